"""`python -m postgen.sim`: command-line options → `SimConfig`, then serve until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence

from .app import serve
from .config import DEFAULT_MODELS, SimConfig, parse_schedule
from .profiles import PROFILES

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m postgen.sim",
        description="A simulated OpenAI-compatible chat-completions provider for postgen.",
    )
    add = p.add_argument
    profiles = "; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values())
    add("--profile", default="sim", choices=list(PROFILES), metavar="NAME", help=profiles)
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8000, help="0 picks a free port")
    add("--seed", type=int, default=0, help="content and fault seed")
    add("--time-scale", type=float, default=1.0, help="latency multiplier; 0 = no latency")
    add("--ttft", type=float, default=0.3, help="time to first token, seconds")
    add("--per-token", type=float, default=0.01, help="seconds per output token")
    add("--rpm", type=int, help="requests per minute (bucket burst: --burst-s of it)")
    add("--tpm", type=int, help="tokens per minute (bucket burst: --burst-s of it)")
    add(
        "--burst-s",
        type=float,
        default=10.0,
        help="seconds of --rpm/--tpm a full bucket holds (10 = a sixth of the minute)",
    )
    add("--no-rate-headers", action="store_true", help="omit x-ratelimit-* headers")
    add("--no-retry-after", action="store_true", help="omit retry-after on 429")
    add("--capacity", type=int, help="requests processed at once (hidden; default: profile's)")
    add(
        "--queue",
        type=int,
        help="requests that may wait for capacity, more are refused; -1 = unbounded "
        "(default: the profile's, 0 for sim)",
    )
    add("--n-ctx", type=int, help="context window in tokens; 0 = none (default: profile's)")
    add(
        "--schemaless-drops-fields",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="JSON replies without a schema may leave a field out (default: profile's)",
    )
    add("--batch-slowdown", type=float, help="per-token time grows by this per extra request")
    add(
        "--interrupt-requests",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a request waiting for the slot cuts a running stream short (default: profile's)",
    )
    add(
        "--chunk-tokens",
        type=int,
        default=1,
        help="content tokens per streamed chunk after the first (1: one per token, as OpenAI "
        "and vLLM stream; more spares the client's CPU at a fast --time-scale)",
    )
    add("--schedule", default="", help='limit changes, e.g. "30:capacity=4,60:rpm=120"')
    add("--error-rate", type=float, default=0.0, help="fraction answered 500")
    add("--hang-rate", type=float, default=0.0, help="fraction that hang for --hang-s")
    add("--hang-s", type=float, default=30.0, help="real seconds a hung request hangs")
    add(
        "--stall-rate",
        type=float,
        default=0.0,
        help="fraction of streams that go silent for --hang-s after their first token",
    )
    add(
        "--jitter",
        type=float,
        default=0.0,
        help="each request's latency x (1 + JITTER x u), u uniform in [0, 1): a hosted API's "
        "variance, not in the request's size (0-10; default 0)",
    )
    add("--malformed-rate", type=float, default=0.0, help="fraction of JSON replies truncated")
    add("--burst-429-every", type=float, help="open a 429 window every N seconds")
    add("--burst-429-len", type=float, default=0.0, help="length of each 429 window, seconds")
    add("--api-key", help="require 'Authorization: Bearer KEY'")
    add("--insufficient-quota", action="store_true", help="answer every request 429 quota")
    add("--model", action="append", default=[], help="accept this model too (repeatable)")
    add("--any-model", action="store_true", help="accept every model name")
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    models: tuple[str, ...] = ()
    if not args.any_model:
        models = tuple(dict.fromkeys([*DEFAULT_MODELS, *args.model]))
    return SimConfig(
        profile=args.profile,
        seed=args.seed,
        time_scale=args.time_scale,
        ttft_s=args.ttft,
        per_token_s=args.per_token,
        rpm=args.rpm,
        tpm=args.tpm,
        rate_burst_s=args.burst_s,
        rate_headers=not args.no_rate_headers,
        retry_after=not args.no_retry_after,
        capacity=args.capacity,
        queue=args.queue,
        n_ctx=args.n_ctx,
        schemaless_drops_fields=args.schemaless_drops_fields,
        batch_slowdown=args.batch_slowdown,
        interrupt_requests=args.interrupt_requests,
        chunk_tokens=args.chunk_tokens,
        schedule=parse_schedule(args.schedule),
        error_rate=args.error_rate,
        hang_rate=args.hang_rate,
        hang_s=args.hang_s,
        stall_rate=args.stall_rate,
        jitter=args.jitter,
        malformed_rate=args.malformed_rate,
        burst_429_every_s=args.burst_429_every,
        burst_429_len_s=args.burst_429_len,
        api_key=args.api_key,
        insufficient_quota=args.insufficient_quota,
        models=models,
    )


async def _serve_forever(config: SimConfig, host: str, port: int) -> None:
    app = await serve(config, host, port)
    print(f"postgen.sim listening on {app.url.removesuffix('/v1')}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await app.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(config, args.host, args.port))
    return 0
