"""Compatibility with the seed's `post_generator.py`: its functions, flags and output.

An edge like `postgen.cli`: it translates the seed's command line into postgen overrides and
runs the seed's functions on postgen's engine. May import: cli, engine and everything below.
"""
