"""The engine: one run against one endpoint, from typed settings to a `RunResult`.

Owns the session (endpoint, client, preflight, store and observers wired once), the pipeline
(the order items move through the stages), the stage caller (store, budget, scheduler lane,
structured output and re-ask), the budget, and the wiring of `scheduler`'s governor.
May import: stages, llm, store, observe, prompts, sim, config, domain, errors, scheduler.
Never Hydra or OmegaConf, never the edge (`postgen.cli`, `postgen.compat`).
"""
