"""Seed compatibility: post_generator.py and postgen.legacy."""
