"""Observation: run statistics, the run's result, Prometheus metrics, progress, summary,
timeline picture and logs.

Everything here watches a run; nothing here changes what a run does. May import: llm (types),
config, domain, errors. Never the engine or the edge, never Hydra.
"""
