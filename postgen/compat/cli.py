"""`post_generator.py`: the seed's command line, translated into Hydra overrides.

The flags keep their seed meaning; each becomes one override of `conf/config.yaml`, and the
same Hydra app as `python -m postgen` runs. Any `key=value` argument passes through as is.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from postgen.compat.notes import performance_notes

__all__ = ["build_parser", "main", "to_overrides"]

_SEED_MAX_CONCURRENT = 5
_PASSTHROUGH_PREFIXES = ("+", "~", "hydra/")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="post_generator.py",
        description=(
            "Generate marketing blog posts with optional synthesis pipeline.\n"
            "Supports parallel processing.\n\n"
            "The seed's command line on top of `python -m postgen`: every flag becomes a\n"
            "Hydra override (see README, 'Coming from post_generator.py'), and key=value\n"
            "arguments pass through as overrides."
        ),
        epilog=performance_notes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--topic", help="the subject of the post (override: topic=...)")
    parser.add_argument("--topic-file", metavar="PATH", help="read the topic from a file")
    parser.add_argument("--iterations", type=_positive, metavar="N", help="candidate articles")
    parser.add_argument(
        "--enable-synthesis",
        action="store_true",
        help="extract, score and synthesize the final post (without it: candidates only)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging (log_level=DEBUG)")
    parser.add_argument(
        "-m",
        "--multirun",
        action="store_true",
        help="run a Hydra sweep over comma-separated override values",
    )
    group = parser.add_argument_group("Parallel Processing Options")
    group.add_argument(
        "--parallel",
        action="store_true",
        help="enable parallel processing for candidates, extraction and scoring",
    )
    group.add_argument(
        "--max-concurrent",
        type=_positive,
        metavar="N",
        help=f"concurrent requests for all parallel stages (default: {_SEED_MAX_CONCURRENT}); "
        "1 means sequential",
    )
    group.add_argument(
        "--extract-concurrent",
        type=_positive,
        metavar="N",
        help="concurrent requests for extraction (overrides --max-concurrent)",
    )
    group.add_argument(
        "--score-concurrent",
        type=_positive,
        metavar="N",
        help="concurrent requests for scoring (overrides --max-concurrent)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="further Hydra overrides, e.g. llm=openai votes=5 hydra.run.dir=out",
    )
    return parser


def to_overrides(argv: Sequence[str]) -> list[str]:
    """The Hydra overrides a seed command line stands for (argparse errors exit 2)."""
    parser = build_parser()
    args = parser.parse_intermixed_args(list(argv))
    for item in args.overrides:
        if "=" not in item and not item.startswith(_PASSTHROUGH_PREFIXES):
            parser.error(f"unrecognized argument: {item} (overrides look like key=value)")
    flags = _flag_overrides(args)
    # An explicit key=value wins over the flag that would set the same key.
    given = {_key(item) for item in args.overrides}
    out = [o for o in flags if _key(o) not in given]
    out.extend(args.overrides)
    if args.multirun:
        out.insert(0, "--multirun")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Parse seed flags, then run the same Hydra app as `python -m postgen`."""
    overrides = to_overrides(sys.argv[1:] if argv is None else argv)
    from postgen.cli import main as app  # Hydra reads sys.argv: hand it the overrides

    sys.argv = [sys.argv[0] or "post_generator.py", *overrides]
    app.main()


def _flag_overrides(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    if args.topic is not None:
        out.append(f"topic={_quote(args.topic)}")
    if args.topic_file is not None:
        out.append(f"topic_file={_quote(args.topic_file)}")
    if args.iterations is not None:
        out.append(f"iterations={args.iterations}")
    # The seed stops after the candidates unless --enable-synthesis is given.
    out.append(f"synthesis={'true' if args.enable_synthesis else 'false'}")
    if args.parallel:
        # Parallel is opt-in, and `--max-concurrent 1` means sequential, as in the seed.
        default = args.max_concurrent or _SEED_MAX_CONCURRENT
        ceilings = (default, args.extract_concurrent or default, args.score_concurrent or default)
        out.append(f"parallel={'true' if max(ceilings) > 1 else 'false'}")
    if args.max_concurrent is not None:
        out.append(f"concurrency={args.max_concurrent}")
    if args.extract_concurrent is not None:
        out.append(f"stage.extract.concurrency={args.extract_concurrent}")
    if args.score_concurrent is not None:
        out.append(f"stage.score.concurrency={args.score_concurrent}")
    if args.verbose:
        out.append("log_level=DEBUG")
    return out


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _quote(value: str) -> str:
    # Hydra's grammar: in a quoted string only backslashes before a quote (or the closing
    # quote) are escapes, so double those and escape the quote; the value then stays verbatim.
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    return f"'{escaped}'"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value
