#!/usr/bin/env python3
"""The seed's command line, kept for existing scripts: `python post_generator.py --help`.

A thin shim: the flags become Hydra overrides and `python -m postgen` runs (see postgen.compat).
"""

from postgen.compat.legacy import main

if __name__ == "__main__":
    main()
