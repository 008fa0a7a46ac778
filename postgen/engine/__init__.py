"""The engine: one run against one endpoint, from typed settings to a `RunResult`.

Owns the session (endpoint, client, preflight), the run's parts built once from settings
(governor and lanes with the run's observers, stage callers, budget, store), the pipeline
(handed those parts, it wires the stages and reads no settings), the stage caller (store,
budget, scheduler lane, structured output and re-ask), the budget, and the wiring of
`scheduler`'s governor.
May import: stages, llm, store, observe, prompts, sim, config, domain, errors, scheduler.
Never Hydra or OmegaConf, never the edge (`postgen.cli`, `postgen.compat`).
"""
