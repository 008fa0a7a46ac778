"""Real Prometheus and Pushgateway processes for the end-to-end tests, stopped by their PID."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
PROMTOOL = shutil.which("promtool")
REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "dashboards" / "postgen.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_json(url: str, params: dict[str, str] | None = None, timeout: float = 5) -> Any:
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def wait_until(check: Any, timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


@contextmanager
def process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped by its own PID whatever happens in the body."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


class Prometheus:
    """Prometheus's HTTP API, as the dashboard's queries go through it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = get_json(f"{self.url}/api/v1/query", params)
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Any]:
        """What a Grafana time series panel asks for: one series per label set."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s}"}
        body = get_json(f"{self.url}/api/v1/query_range", params)
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def label_values(
        self, label: str, match: str, start: float | None = None, end: float | None = None
    ) -> list[str]:
        """Values of `label` on series matching `match` (within [start, end] when given)."""
        params = {"match[]": match}
        if start is not None and end is not None:
            params |= {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        body = get_json(f"{self.url}/api/v1/label/{label}/values", params)
        assert body["status"] == "success", body
        values: list[str] = body["data"]
        return values

    def targets_up(self, job: str) -> bool:
        body = get_json(f"{self.url}/api/v1/targets")
        active = [t for t in body["data"]["activeTargets"] if t["labels"].get("job") == job]
        return bool(active) and all(t["health"] == "up" for t in active)


def prometheus_config(scrape: dict[str, str]) -> str:
    """A 1 s scrape config: job name → target; the `pushgateway` job honours pushed labels."""
    lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
    for job, target in scrape.items():
        lines += [f"  - job_name: {job}", "    scrape_interval: 1s"]
        if job == "pushgateway":
            lines.append("    honor_labels: true")
        lines += ["    static_configs:", f"      - targets: ['{target}']"]
    return "\n".join(lines) + "\n"


@contextmanager
def run_prometheus(tmp: Path, scrape: dict[str, str]) -> Iterator[Prometheus]:
    assert PROMETHEUS is not None
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(prometheus_config(scrape), encoding="utf-8")
    argv = [
        PROMETHEUS,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with process(argv, tmp / "prometheus.log"):
        prom = Prometheus(f"http://127.0.0.1:{port}")
        wait_until(prom.ready, 20, "Prometheus to be ready")
        yield prom


@contextmanager
def run_pushgateway(tmp: Path) -> Iterator[str]:
    assert PUSHGATEWAY is not None
    port = free_port()
    argv = [
        PUSHGATEWAY,
        f"--web.listen-address=127.0.0.1:{port}",
        "--persistence.file=",  # Debian's default persists under /var/lib; keep it in memory
        "--log.level=warn",
    ]
    with process(argv, tmp / "pushgateway.log"):
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)

        wait_until(ready, 20, "the Pushgateway to be ready")
        yield url


# --- the dashboard -----------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return doc


def panel_queries(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel, rows included."""
    out = []
    stack = list(doc["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def substitute(
    expr: str, values: dict[str, str], rate_interval: str = "1m", range_: str = "5m"
) -> str:
    """What Grafana sends: template variables replaced, `$__rate_interval` and friends too."""
    builtins = {"__rate_interval": rate_interval, "__interval": "1s", "__range": range_}
    merged = {**builtins, **values}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in merged:
            raise KeyError(f"no value for ${name} in {expr}")
        return merged[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$")


def variable_query(var: dict[str, Any]) -> str:
    query = var.get("query")
    text = query.get("query") if isinstance(query, dict) else query
    assert isinstance(text, str), var
    return text


def resolve_variable(
    prom: Prometheus,
    var: dict[str, Any],
    values: dict[str, str],
    window: tuple[float, float] | None = None,
) -> list[str]:
    """Resolve a `label_values(selector, label)` variable as Grafana's Prometheus source does:
    the values in the dashboard's time range, in the variable's sort order."""
    m = LABEL_VALUES.match(variable_query(var).strip())
    assert m, f"unsupported variable query: {var}"
    selector, label = m.group(1), m.group(2)
    assert selector, f"variable {var['name']} must name a metric"
    start, end = window if window else (None, None)
    found = prom.label_values(label, substitute(selector, values), start, end)
    return sort_options(found, var.get("sort", 0))


def sort_options(options: list[str], sort: int) -> list[str]:
    """Grafana's variable sort: 0 as returned, 1 alphabetical, 2 alphabetical descending."""
    assert sort in (0, 1, 2), f"sort mode {sort} is not modelled here"
    return options if sort == 0 else sorted(options, reverse=sort == 2)


def default_value(var: dict[str, Any], options: list[str]) -> str:
    """What Grafana selects when the saved selection is empty: "All" if offered, else the first
    option. Returned as Grafana sends it to Prometheus (All: the variable's allValue)."""
    current = var.get("current") or {}
    if current.get("value") == ["$__all"] or (not current and var.get("includeAll")):
        assert var.get("includeAll"), var["name"]
        all_value: str = var["allValue"]
        return all_value
    assert options, f"variable {var['name']} has no options"
    return options[0]


def multi_value(values: list[str]) -> str:
    """Several values of a multi-value variable, as Grafana formats them for Prometheus."""
    return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"
