"""Regenerate `dashboards/postgen.json`: `python dashboards/build_dashboard.py`.

This script is the source of the dashboard; the JSON is what Grafana provisions (commit
both). Metric names and labels: `postgen/observe/metrics.py`; panels and modes: docs/grafana.md.

Two rows, because a run reaches Prometheus in one of two ways:

- **Run totals (live and pushed)**: instant queries over the dashboard's range. A pushed run
  is one final state (the Pushgateway serves it unchanged from the push on), so these read
  totals and last values: `max_over_time` of a counter is the run's count (a counter only
  rises within one run's series, and every run has its own `run_id`), `last_over_time` of a
  gauge its last value. A live run, scraped after it finished, shows the same numbers.
- **Over time (live runs)**: `rate()` and gauges over time. They need a counter that changes
  between two scrapes, so a pushed final state shows nothing useful there (rates of 0).

Every query filters on `job`, `run_id` (the Pushgateway grouping key; the live exporter adds
the same label) and, where the series has one, `stage`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RUN = 'job=~"$job", run_id=~"$run_id"'
SEL = f'{RUN}, stage=~"$stage"'
RATE = "$__rate_interval"
RANGE = "$__range"
DS = {"type": "prometheus", "uid": "${datasource}"}

RATE_LIMITED = 'outcome="rate_limited"'
WAITS_SHOWN = 'reason=~"cooldown|backoff|pacing"'

BOTH = "Live and pushed runs."
LIVE = "Live runs only: "  # + why, and what a pushed run shows instead
RATE_NEEDS_TWO_SCRAPES = "a rate needs two scrapes of a changing counter; a pushed final state "
LIVE_RATE = LIVE + RATE_NEEDS_TWO_SCRAPES + "shows 0 here."

Target = tuple[str, str, str]  # (refId, expr, legend)


# --- query pieces ------------------------------------------------------------------------


def total(metric: str, sel: str = SEL) -> str:
    """A counter's value at the end of the run (in the range): its highest value."""
    return f"max_over_time({metric}{{{sel}}}[{RANGE}])"


def last(metric: str, sel: str = RUN) -> str:
    """A gauge's last value in the range."""
    return f"last_over_time({metric}{{{sel}}}[{RANGE}])"


def total_by(label: str, metric: str, sel: str = SEL) -> str:
    """The run's count per value of `label` (summed over the other labels and picked runs)."""
    return f"sum by ({label}) ({total(metric, sel)})"


def rate(metric: str, sel: str = SEL) -> str:
    return f"rate({metric}{{{sel}}}[{RATE}])"


def quantile(q: str, buckets: str) -> str:
    """`histogram_quantile`, without the NaN of a stage that made no request."""
    return f"histogram_quantile({q}, {buckets}) >= 0"


def share(outcome: str, over: Callable[[str, str], str] = total) -> str:
    """The share of request attempts whose outcome matches `outcome` (e.g. `="rate_limited"`)."""
    part = over("postgen_requests_total", f"{SEL}, outcome{outcome}")
    whole = over("postgen_requests_total", SEL)
    return f"sum by (stage) ({part}) / clamp_min(sum by (stage) ({whole}), 1e-9)"


# --- panels ------------------------------------------------------------------------------


def _target(ref: str, expr: str, legend: str, *, instant: bool) -> dict[str, Any]:
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
        "range": not instant,
        "instant": instant,
    }


REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def panel(
    title: str,
    kind: str,
    targets: list[Target],
    *,
    mode: str,
    unit: str = "short",
    description: str = "",
) -> dict[str, Any]:
    """One panel; `layout` sets its id and grid position. `mode`: which runs it serves (BOTH,
    or LIVE + why), appended to its description."""
    instant = kind != "timeseries"
    result: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": f"{description} {mode}".strip(),
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [_target(r, e, lg, instant=instant) for r, e, lg in targets],
    }
    if kind == "timeseries":
        result["fieldConfig"]["defaults"]["custom"] = {"lineWidth": 1, "fillOpacity": 10}
        result["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}}
    elif kind == "stat":
        result["options"] = {
            "reduceOptions": REDUCE_LAST,
            "textMode": "value_and_name",
            "colorMode": "none",
            "graphMode": "none",
        }
    elif kind == "bargauge":
        result["options"] = {
            "reduceOptions": REDUCE_LAST,
            "displayMode": "gradient",
            "orientation": "horizontal",
            "showUnfilled": True,
        }
    return result


def runs_table() -> dict[str, Any]:
    """One row per run: what it was, when it ran, its requests, 429s and final limit.

    Several instant queries joined on (job, run_id) by Grafana's `merge` transformation.
    """
    by = "max by (job, run_id)"
    info = "max by (job, run_id, sweep_job, model, provider, parallel, scheduler)"
    success = f"({by} ({last('postgen_last_success_timestamp_seconds')}) > 0)"
    start = f"{by} ({last('postgen_run_start_timestamp_seconds')})"
    targets: list[Target] = [
        ("info", f"{info} ({last('postgen_run_info')})", ""),
        ("started", f"{start} * 1000", ""),
        ("last_success", f"{success} * 1000", ""),
        ("active", f"{success} - {start}", ""),
        ("requests", f"sum by (job, run_id) ({total('postgen_requests_total', RUN)})", ""),
        (
            "rate_limited",
            f"sum by (job, run_id) ({total('postgen_requests_total', f'{RUN}, {RATE_LIMITED}')})",
            "",
        ),
        ("limit", f"{by} ({last('postgen_scheduler_concurrency_limit')})", ""),
    ]
    table = panel(
        "Runs",
        "table",
        targets,
        mode=BOTH,
        description=(
            "One row per run: its model, provider and mode; when it started and last "
            "succeeded (ms timestamps); seconds from start to the last success; request "
            "attempts; 429s; the adaptive limit at the end."
        ),
    )
    for target in table["targets"]:
        target["format"] = "table"
    names = {
        "Value #started": "started",
        "Value #last_success": "last success",
        "Value #active": "start to last success",
        "Value #requests": "attempts",
        "Value #rate_limited": "429s",
        "Value #limit": "final limit",
    }
    table["options"] = {"showHeader": True}
    table["transformations"] = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "Value #info": True},
                "renameByName": names,
            },
        },
    ]
    table["fieldConfig"]["overrides"] = [
        _unit_override("started", "dateTimeAsIso"),
        _unit_override("last success", "dateTimeAsIso"),
        _unit_override("start to last success", "s"),
    ]
    return table


def _unit_override(field: str, unit: str) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "unit", "value": unit}],
    }


def totals_row() -> list[dict[str, Any]]:
    vote = "postgen_judge_vote_stdev"
    buckets = "sum by (stage, le) ({})".format(total("postgen_request_duration_seconds_bucket"))
    spread_buckets = f"sum by (le) ({total(vote + '_bucket', RUN)})"
    return [
        runs_table(),
        panel(
            "Items per stage",
            "bargauge",
            [
                ("ok", total_by("stage", "postgen_items_succeeded_total"), "ok {{stage}}"),
                ("failed", total_by("stage", "postgen_items_failed_total"), "failed {{stage}}"),
                ("started", total_by("stage", "postgen_items_total"), "started {{stage}}"),
            ],
            mode=BOTH,
            description="Items that entered, finished and failed each stage.",
        ),
        panel(
            "Attempts, 429s, retries, cool-downs",
            "stat",
            [
                ("attempts", f"sum({total('postgen_requests_total')})", "attempts"),
                (
                    "rate_limited",
                    f"sum({total('postgen_requests_total', f'{SEL}, {RATE_LIMITED}')})",
                    "429s",
                ),
                ("retries", f"sum({total('postgen_retries_total')})", "retries"),
                ("cooldowns", f"sum({total('postgen_cooldowns_total', RUN)})", "cool-downs"),
                ("cached", f"sum({total('postgen_cached_requests_total')})", "from the store"),
            ],
            mode=BOTH,
            description=(
                "Request attempts, those answered 429, retries scheduled, times the 429 "
                "cool-down gate closed (not per stage), and calls answered by the call store."
            ),
        ),
        panel(
            "429 share and failure share",
            "bargauge",
            [
                ("share_429", share('="rate_limited"'), "429 {{stage}}"),
                ("share_failed", share('!="success"'), "failed {{stage}}"),
            ],
            mode=BOTH,
            unit="percentunit",
            description="Share of a stage's request attempts answered 429, and that failed.",
        ),
        panel(
            "Requests by outcome",
            "bargauge",
            [
                (
                    "outcome",
                    total_by("outcome", "postgen_requests_total") + " > 0",
                    "{{outcome}}",
                )
            ],
            mode=BOTH,
            description="Request attempts by outcome (outcomes that happened).",
        ),
        panel(
            "Tokens per stage",
            "bargauge",
            [
                ("input", total_by("stage", "postgen_input_tokens_total"), "in {{stage}}"),
                ("output", total_by("stage", "postgen_output_tokens_total"), "out {{stage}}"),
            ],
            mode=BOTH,
            description="Prompt and completion tokens.",
        ),
        panel(
            "Time spent waiting, by reason",
            "bargauge",
            [("wait", total_by("reason", "postgen_wait_seconds_total"), "{{reason}}")],
            mode=BOTH,
            unit="s",
            description=(
                "Seconds requests waited, summed over requests: cooldown (429 gate), backoff "
                "(between retries), pacing (rate limiter), slot (concurrency)."
            ),
        ),
        panel(
            "Latency over the run",
            "bargauge",
            [
                ("p50", quantile("0.5", buckets), "p50 {{stage}}"),
                ("p95", quantile("0.95", buckets), "p95 {{stage}}"),
                ("p99", quantile("0.99", buckets), "p99 {{stage}}"),
            ],
            mode=BOTH,
            unit="s",
            description="Latency quantiles of all the run's request attempts, per stage.",
        ),
        panel(
            "Retries and limit changes, by reason",
            "bargauge",
            [
                (
                    "retries",
                    total_by("reason", "postgen_retries_total") + " > 0",
                    "retry {{reason}}",
                ),
                (
                    "limit_changes",
                    total_by("reason", "postgen_scheduler_limit_changes_total", RUN) + " > 0",
                    "limit {{reason}}",
                ),
            ],
            mode=BOTH,
            description="Retries by the failed attempt's reason; adaptive-limit changes by reason.",
        ),
        panel(
            "Judge vote spread",
            "stat",
            [
                ("median", quantile("0.5", spread_buckets), "median"),
                ("p90", quantile("0.9", spread_buckets), "p90"),
                (
                    "mean",
                    f"sum({total(vote + '_sum', RUN)}) / sum({total(vote + '_count', RUN)})",
                    "mean",
                ),
            ],
            mode=BOTH,
            description=(
                "Standard deviation of the judges' overall scores per card (1–10 scale), "
                "recorded when scoring ends (a live run shows it if scraped after that)."
            ),
        ),
    ]


def live_row() -> list[dict[str, Any]]:
    rate_buckets = "sum by (stage, le) ({})".format(rate("postgen_request_duration_seconds_bucket"))
    waits = f"{SEL}, {WAITS_SHOWN}"
    return [
        panel(
            "Request rate by stage and outcome",
            "timeseries",
            [
                (
                    "rate",
                    f"sum by (stage, outcome) ({rate('postgen_requests_total')})",
                    "{{stage}} {{outcome}}",
                )
            ],
            mode=LIVE_RATE,
            unit="reqps",
        ),
        panel(
            "Latency p50 / p95 / p99 by stage",
            "timeseries",
            [
                ("p50", quantile("0.5", rate_buckets), "p50 {{stage}}"),
                ("p95", quantile("0.95", rate_buckets), "p95 {{stage}}"),
                ("p99", quantile("0.99", rate_buckets), "p99 {{stage}}"),
            ],
            mode=LIVE + RATE_NEEDS_TWO_SCRAPES + "shows nothing here.",
            unit="s",
        ),
        panel(
            "429 ratio and error ratio",
            "timeseries",
            [
                ("share_429", share('="rate_limited"', over=rate), "429 {{stage}}"),
                ("share_failed", share('!="success"', over=rate), "errors {{stage}}"),
            ],
            mode=LIVE_RATE,
            unit="percentunit",
            description="Share of request attempts answered 429, and of attempts that failed.",
        ),
        panel(
            "Tokens per second",
            "timeseries",
            [
                ("input", f"sum by (stage) ({rate('postgen_input_tokens_total')})", "in {{stage}}"),
                (
                    "output",
                    f"sum by (stage) ({rate('postgen_output_tokens_total')})",
                    "out {{stage}}",
                ),
            ],
            mode=LIVE_RATE,
        ),
        panel(
            "In flight vs concurrency limit",
            "timeseries",
            [
                (
                    "inflight",
                    f"sum by (stage) (postgen_inflight_requests{{{SEL}}})",
                    "in flight {{stage}}",
                ),
                (
                    "limit",
                    f"max by (stage) (postgen_stage_concurrency_limit{{{SEL}}})",
                    "limit {{stage}}",
                ),
                (
                    "ceiling",
                    f"max by (stage) (postgen_stage_concurrency_ceiling{{{SEL}}})",
                    "ceiling {{stage}}",
                ),
                (
                    "adaptive",
                    f"max(postgen_scheduler_concurrency_limit{{{RUN}}})",
                    "adaptive limit",
                ),
            ],
            mode=LIVE
            + "a pushed final state holds each gauge's last value (flat lines, 0 in flight).",
            description="Effective limit = min(stage ceiling, the scheduler's adaptive limit).",
        ),
        panel(
            "Cool-down and backoff",
            "timeseries",
            [
                (
                    "wait",
                    f"sum by (stage, reason) ({rate('postgen_wait_seconds_total', waits)})",
                    "{{reason}} {{stage}}",
                ),
                ("gate", f"max(postgen_cooldown_active{{{RUN}}})", "429 gate closed"),
            ],
            mode=LIVE_RATE,
            description=(
                "Seconds spent waiting per second (≈ requests waiting): on the 429 cool-down "
                "gate, in retry backoff, on pacing. The gate series is 1 while it is closed."
            ),
        ),
        panel(
            "Retries by reason",
            "timeseries",
            [("retries", f"sum by (reason) ({rate('postgen_retries_total')})", "{{reason}}")],
            mode=LIVE_RATE,
            unit="reqps",
        ),
        panel(
            "Scheduler limit changes by reason",
            "timeseries",
            [
                (
                    "changes",
                    f"sum by (reason) ({rate('postgen_scheduler_limit_changes_total', RUN)})",
                    "{{reason}}",
                )
            ],
            mode=LIVE_RATE,
        ),
        panel(
            "Items done over time",
            "timeseries",
            [("ok", f"sum by (stage) (postgen_items_succeeded_total{{{SEL}}})", "ok {{stage}}")],
            mode=BOTH,
            description="Items finished so far: a live run climbs; a pushed run is a flat line.",
        ),
    ]


def row(title: str, y: int) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def layout() -> list[dict[str, Any]]:
    """Rows with their panels: the Runs table full width, then panels three (totals) or two
    (over time) to a line. Grafana wants ids and grid positions; they are derived here."""
    out: list[dict[str, Any]] = []
    y = 0
    for title, panels, width, height in (
        ("Run totals (live and pushed)", totals_row(), 8, 7),
        ("Over time (live runs)", live_row(), 12, 8),
    ):
        out.append(row(title, y))
        y += 1
        x = 0
        for p in panels:
            w, h = (24, 6) if p["type"] == "table" else (width, height)
            if x + w > 24:
                x, y = 0, y + height
            p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
            out.append(p)
            x += w
            if x >= 24:
                x, y = 0, y + h
        if x:
            y += height
    for pid, p in enumerate(out, start=1):
        p["id"] = pid
    return out


# --- variables ---------------------------------------------------------------------------


def query_variable(name: str, label: str, query: str, **options: Any) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": name},
        "refresh": 2,  # on time range change: runs that appear in the range
        "hide": 0,
        **options,
    }


def variables() -> list[dict[str, Any]]:
    every = {
        "includeAll": True,
        "multi": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
        },
        # One job at a time: a run both scraped and pushed would otherwise count twice.
        query_variable(
            "job",
            "Job",
            "label_values(postgen_run_info, job)",
            includeAll=False,
            multi=False,
            current={},
            sort=1,
        ),
        # Run ids start with their start time: sorted descending, the newest run comes first
        # and is the default. Several may be picked; their totals then add up.
        query_variable(
            "run_id",
            "Run",
            'label_values(postgen_run_info{job=~"$job"}, run_id)',
            includeAll=False,
            multi=True,
            current={},
            sort=2,
        ),
        query_variable(
            "stage",
            "Stage",
            f"label_values(postgen_requests_total{{{RUN}}}, stage)",
            sort=0,
            **every,
        ),
    ]


def dashboard() -> dict[str, Any]:
    return {
        "uid": "postgen-run",
        "title": "postgen: run",
        "description": (
            "One postgen run (or several): totals that a pushed final state shows too, "
            "and rates over time while a run is scraped live."
        ),
        "tags": ["postgen", "llm"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 2,
        "refresh": "5s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables()},
        "annotations": {"list": []},
        "links": [],
        "panels": layout(),
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("postgen.json")
    out.write_text(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
