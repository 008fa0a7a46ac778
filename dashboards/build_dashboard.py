"""Regenerate `dashboards/postgen.json`: `python dashboards/build_dashboard.py`.

The JSON is the deliverable (Grafana provisions it as is); this script only keeps the
panel queries readable and the layout consistent. Metric names: `postgen/metrics.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SEL = 'job=~"$job", stage=~"$stage"'
JOB = 'job=~"$job"'
RI = "$__rate_interval"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        "refId": ref,
    }


def _panel(
    pid: int,
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str,
    x: int,
    y: int,
    w: int = 12,
    h: int = 8,
    kind: str = "timeseries",
    description: str = "",
) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [_target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(targets)],
    }
    if kind == "timeseries":
        panel["fieldConfig"]["defaults"]["custom"] = {"lineWidth": 1, "fillOpacity": 10}
    if kind == "bargauge":
        panel["options"] = {"displayMode": "gradient", "orientation": "horizontal"}
    if kind == "table":
        panel["options"] = {"showHeader": True}
        for t in panel["targets"]:
            t.update({"format": "table", "instant": True, "range": False})
    return panel


def _quantile(q: str) -> tuple[str, str]:
    expr = (
        f"histogram_quantile({q}, sum by (stage, le) "
        f"(rate(postgen_request_duration_seconds_bucket{{{SEL}}}[{RI}])))"
    )
    return expr, f"p{round(float(q) * 100)} {{{{stage}}}}"


def _ratio(outcome: str) -> str:
    part = f"sum by (stage) (rate(postgen_requests_total{{{SEL}, outcome{outcome}}}[{RI}]))"
    whole = f"sum by (stage) (rate(postgen_requests_total{{{SEL}}}[{RI}]))"
    return f"{part} / clamp_min({whole}, 1e-9)"


def panels() -> list[dict[str, Any]]:
    return [
        _panel(
            1,
            "Request rate by stage and outcome",
            [
                (
                    f"sum by (stage, outcome) (rate(postgen_requests_total{{{SEL}}}[{RI}]))",
                    "{{stage}} {{outcome}}",
                )
            ],
            unit="reqps",
            x=0,
            y=0,
        ),
        _panel(
            2,
            "Latency p50 / p95 / p99 by stage",
            [_quantile("0.5"), _quantile("0.95"), _quantile("0.99")],
            unit="s",
            x=12,
            y=0,
        ),
        _panel(
            3,
            "429 ratio and error ratio",
            [
                (_ratio('="rate_limited"'), "429 {{stage}}"),
                (_ratio('!="success"'), "errors {{stage}}"),
            ],
            unit="percentunit",
            x=0,
            y=8,
            description="Share of request attempts answered 429, and of attempts that failed.",
        ),
        _panel(
            4,
            "Tokens per second",
            [
                (
                    f"sum by (stage) (rate(postgen_input_tokens_total{{{SEL}}}[{RI}]))",
                    "in {{stage}}",
                ),
                (
                    f"sum by (stage) (rate(postgen_output_tokens_total{{{SEL}}}[{RI}]))",
                    "out {{stage}}",
                ),
            ],
            unit="short",
            x=12,
            y=8,
        ),
        _panel(
            5,
            "In flight vs concurrency limit",
            [
                (f"sum by (stage) (postgen_inflight_requests{{{SEL}}})", "in flight {{stage}}"),
                (
                    f"max by (stage) (postgen_stage_concurrency_limit{{{SEL}}})",
                    "limit {{stage}}",
                ),
                (
                    f"max by (stage) (postgen_stage_concurrency_ceiling{{{SEL}}})",
                    "ceiling {{stage}}",
                ),
                (f"max(postgen_scheduler_concurrency_limit{{{JOB}}})", "adaptive limit"),
            ],
            unit="short",
            x=0,
            y=16,
            description="Effective limit = min(stage ceiling, the scheduler's adaptive limit).",
        ),
        _panel(
            6,
            "Cool-down and backoff",
            [
                (
                    f"sum by (stage, reason) "
                    f'(rate(postgen_wait_seconds_total{{{SEL}, reason=~"cooldown|backoff|pacing"}}'
                    f"[{RI}]))",
                    "{{reason}} {{stage}}",
                ),
                (f"max(postgen_cooldown_active{{{JOB}}})", "429 gate closed"),
            ],
            unit="short",
            x=12,
            y=16,
            description=(
                "Seconds spent waiting per second (≈ requests waiting): on the 429 cool-down "
                "gate, in retry backoff, on pacing. The gate series is 1 while it is closed."
            ),
        ),
        _panel(
            7,
            "Retries by reason",
            [
                (
                    f"sum by (reason) (rate(postgen_retries_total{{{SEL}}}[{RI}]))",
                    "{{reason}}",
                )
            ],
            unit="reqps",
            x=0,
            y=24,
        ),
        _panel(
            8,
            "Items done per stage",
            [
                (f"sum by (stage) (postgen_items_succeeded_total{{{SEL}}})", "ok {{stage}}"),
                (f"sum by (stage) (postgen_items_failed_total{{{SEL}}})", "failed {{stage}}"),
                (f"sum by (stage) (postgen_items_total{{{SEL}}})", "started {{stage}}"),
            ],
            unit="short",
            x=12,
            y=24,
            kind="bargauge",
        ),
        _panel(
            9,
            "Judge vote spread",
            [
                (
                    f"histogram_quantile(0.5, sum by (le) "
                    f"(postgen_judge_vote_stdev_bucket{{{JOB}}}))",
                    "median",
                ),
                (
                    f"histogram_quantile(0.9, sum by (le) "
                    f"(postgen_judge_vote_stdev_bucket{{{JOB}}}))",
                    "p90",
                ),
                (
                    f"sum(postgen_judge_vote_stdev_sum{{{JOB}}}) "
                    f"/ sum(postgen_judge_vote_stdev_count{{{JOB}}})",
                    "mean",
                ),
            ],
            unit="short",
            x=0,
            y=32,
            description="Standard deviation of the judges' overall scores per card (1–10 scale).",
        ),
        _panel(
            10,
            "Scheduler limit changes by reason",
            [
                (
                    f"sum by (reason) (rate(postgen_scheduler_limit_changes_total{{{JOB}}}[{RI}]))",
                    "{{reason}}",
                )
            ],
            unit="short",
            x=12,
            y=32,
        ),
        _panel(
            11,
            "Runs",
            [
                (f"postgen_run_info{{{JOB}}}", ""),
                (
                    f"time() - max by (job, instance) "
                    f"(postgen_last_success_timestamp_seconds{{{JOB}}})",
                    "",
                ),
            ],
            unit="short",
            x=0,
            y=40,
            w=24,
            h=6,
            kind="table",
            description="Model, provider and mode of each run; seconds since its last success.",
        ),
    ]


def variables() -> list[dict[str, Any]]:
    ds = {"type": "prometheus", "uid": "${datasource}"}
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
        {
            "name": "job",
            "label": "Job",
            "type": "query",
            "datasource": ds,
            "definition": "label_values(postgen_run_info, job)",
            "query": {"query": "label_values(postgen_run_info, job)", "refId": "job"},
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".+",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
            "hide": 0,
        },
        {
            "name": "stage",
            "label": "Stage",
            "type": "query",
            "datasource": ds,
            "definition": 'label_values(postgen_requests_total{job=~"$job"}, stage)',
            "query": {
                "query": 'label_values(postgen_requests_total{job=~"$job"}, stage)',
                "refId": "stage",
            },
            "refresh": 2,
            "includeAll": True,
            "multi": True,
            "allValue": ".+",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 0,
            "hide": 0,
        },
    ]


def dashboard() -> dict[str, Any]:
    return {
        "uid": "postgen-run",
        "title": "postgen: run",
        "description": "One postgen run (or a sweep): requests, latency, 429s, scheduler state.",
        "tags": ["postgen", "llm"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5s",
        "time": {"from": "now-30m", "to": "now"},
        "templating": {"list": variables()},
        "annotations": {"list": []},
        "links": [],
        "panels": panels(),
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("postgen.json")
    out.write_text(json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
