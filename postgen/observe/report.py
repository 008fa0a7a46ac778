"""The end-of-run summary table."""

from __future__ import annotations

from postgen.observe.result import RunResult

__all__ = ["summary_table"]

_COLUMNS = (
    "stage",
    "ok",
    "failed",
    "requests",
    "retries",
    "429s",
    "tokens in/out",
    "p50 s",
    "p95 s",
    "max conc",
    "wall s",
)


def summary_table(result: RunResult) -> str:
    rows = [_COLUMNS]
    for name, st in result.stats.stages.items():
        if st.items == 0 and st.requests == 0:
            continue
        p50, p95 = st.latency_quantile(0.5), st.latency_quantile(0.95)
        rows.append(
            (
                name,
                f"{st.succeeded}/{st.items}",
                str(st.failed),
                str(st.requests) + (f" (+{st.cached} cached)" if st.cached else ""),
                str(st.retries),
                str(st.rate_limited),
                f"{st.input_tokens}/{st.output_tokens}",
                "-" if p50 is None else f"{p50:.2f}",
                "-" if p95 is None else f"{p95:.2f}",
                str(st.max_concurrency_reached),
                f"{st.wall_seconds:.2f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    footer = f"status: {result.status}   wall: {result.wall_seconds:.2f} s"
    return "\n".join([*lines, footer, *replay_note(result)])


def replay_note(result: RunResult) -> list[str]:
    """A line saying how much of the run came from the store, when any of it did."""
    replayed = result.stats.total_replayed()
    if not replayed:
        return []
    sent = result.stats.total_requests()
    return [
        f"replayed {replayed} of {replayed + sent} calls from the call store ({sent} sent): "
        "timings and concurrency show the replay, not the endpoint (cache.enabled=false "
        "sends every call)"
    ]
