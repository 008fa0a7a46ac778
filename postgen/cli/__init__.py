"""The command-line edge: `python -m postgen`, Hydra composition, signals, output files,
sweeps and resume.

The only place (with `postgen.compat`) that knows Hydra and OmegaConf: it composes `conf/`
into typed settings, runs the engine, writes the run dir and turns bad input into one line
and exit code 2. May import everything below it.
"""
