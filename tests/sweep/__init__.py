"""Sweeps: the multirun report callback and the concurrency experiment."""
