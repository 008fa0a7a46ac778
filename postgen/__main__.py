"""`python -m postgen [overrides]` (see `python -m postgen --help`)."""

from postgen.cli.main import main

if __name__ == "__main__":
    main()
