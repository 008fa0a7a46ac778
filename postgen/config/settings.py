"""Typed configuration: the schema Hydra composes into, and its range checks.

The edge (`postgen.cli.compose`) registers these dataclasses in Hydra's ConfigStore as the
schema of `conf/config.yaml`, so OmegaConf rejects unknown keys and wrong types while
composing, and turns the composed config into these same classes. `checked` then checks
ranges, raising `ConfigError` that names the offending key.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from postgen.errors import ConfigError

__all__ = [
    "MAX_ITERATIONS",
    "MAX_TOPIC_BYTES",
    "MAX_VOTES",
    "STAGES",
    "STRUCTURED_OUTPUT_MODES",
    "BriefConfig",
    "BudgetConfig",
    "CacheConfig",
    "Criterion",
    "LLMConfig",
    "MetricsConfig",
    "RetryConfig",
    "SchedulerConfig",
    "Settings",
    "SimOptions",
    "StageConfig",
    "StagesConfig",
    "checked",
    "packaged_criteria",
]

STAGES = ("candidates", "extract", "score", "synthesize")
# `llm.structured_output`: how structured calls ask for JSON (postgen.llm.negotiate.MODES).
STRUCTURED_OUTPUT_MODES = ("auto", "json_schema", "json_object+schema", "json_object", "prompt")
MAX_ITERATIONS = 10_000
MAX_VOTES = 25
MAX_CONCURRENCY = 1_024
# A topic file is a brief, not a corpus: larger files are refused before they are read.
MAX_TOPIC_BYTES = 100_000


@dataclass
class RetryConfig:
    attempts: int = 6
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 120.0
    deadline_s: float | None = None


@dataclass
class StageConfig:
    concurrency: int = 5
    temperature: float = 0.7
    max_tokens: int = 1024
    model: str | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)


def _stage(temperature: float, max_tokens: int, timeout_s: float) -> Callable[[], StageConfig]:
    """A stage's defaults: creative drafts, deterministic extraction, roomy synthesis."""
    return lambda: StageConfig(
        temperature=temperature, max_tokens=max_tokens, retry=RetryConfig(timeout_s=timeout_s)
    )


@dataclass
class StagesConfig:
    candidates: StageConfig = field(default_factory=_stage(0.9, 1800, 120.0))
    extract: StageConfig = field(default_factory=_stage(0.0, 800, 60.0))
    score: StageConfig = field(default_factory=_stage(0.7, 700, 60.0))
    synthesize: StageConfig = field(default_factory=_stage(0.5, 2400, 180.0))

    def get(self, name: str) -> StageConfig:
        stage: StageConfig = getattr(self, name)
        return stage


@dataclass
class BriefConfig:
    audience: str = "engineering leaders at growing software companies"
    tone: str = "confident, practical, friendly"
    keywords: list[str] = field(default_factory=list)
    words: int = 900
    call_to_action: str = "Book a 20-minute demo"


@dataclass
class SimOptions:
    """Options of the in-process simulated provider (see `python -m postgen.sim --help`).

    `profile` picks how refusals, errors and streams look (a real server's habits); the
    options left at null take that profile's value (`queue` -1 = unbounded, `n_ctx` 0 = no
    context window).
    """

    profile: str = "sim"
    time_scale: float = 0.05
    ttft_s: float = 0.3
    per_token_s: float = 0.01
    rpm: int | None = None
    tpm: int | None = None
    rate_burst_s: float = 10.0  # seconds of rpm / tpm a full bucket holds
    rate_headers: bool = True
    capacity: int | None = None
    queue: int | None = None
    n_ctx: int | None = None
    schemaless_drops_fields: bool | None = None
    batch_slowdown: float | None = None
    interrupt_requests: bool | None = None
    chunk_tokens: int = 1  # content tokens per streamed chunk after the first
    schedule: str = ""
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    malformed_rate: float = 0.0
    burst_429_every_s: float | None = None
    burst_429_len_s: float = 0.0


@dataclass
class LLMConfig:
    provider: str = "sim"
    base_url: str | None = None
    model: str | None = "sim-1"  # null: the first model the endpoint lists (/v1/models)
    api_key_env: str | None = None
    api_key_required: bool = True  # false: a key is sent only if the variable is set
    structured_output: str = "auto"  # STRUCTURED_OUTPUT_MODES; auto finds the strongest
    json_schema: bool = True  # deprecated: false means structured_output=prompt
    stream: bool = False  # server-sent events: time to first token, stall bound, cancel stops it
    stall_s: float = 30.0  # a reply that started and then sends no byte this long fails
    queue_timeout_s: float = 600.0  # streaming: longest wait for the server to start answering
    max_reply_bytes: int | None = None  # null: 512 bytes per max_tokens, at least 256 kB
    connect_timeout_s: float = 5.0
    sim: SimOptions = field(default_factory=SimOptions)


@dataclass
class SchedulerConfig:
    kind: str = "adaptive"
    initial: int = 4
    minimum: int = 1
    maximum: int = 256
    backoff: float = 0.7
    latency_brake: bool = True
    brake_tolerance: float = 1.3
    brake_backoff: float = 0.85
    learn_rate: bool = True
    rpm: float | None = None
    tpm: float | None = None
    pace_from_headers: bool = True
    pace_burst_s: float = 60.0  # seconds of a configured (or stated) rate spendable at once
    gate_jitter: float = 0.1
    retry_budget: float = 0.2
    retry_budget_min: int = 10  # retries always allowed per window, however few first attempts
    retry_budget_window_s: float = 60.0
    law: str = "delivery"  # delivery (scheduler.control.DeliveryLimit) or aimd (AIMDLimit)
    queue_tolerance: float = 1.3
    bdp_gain: float = 1.25
    fast_start_period_s: float = 3.0
    max_wait_s: float = 300.0
    item_deadline_s: float = 1800.0
    breaker_failures: int = 30
    breaker_s: float = 60.0
    timeout_patience: float = 4.0


@dataclass
class Criterion:
    weight: float = 1.0
    description: str = ""
    levels: dict[str, str] = field(default_factory=dict)


@dataclass
class MetricsConfig:
    port: int | None = None
    addr: str = "127.0.0.1"
    pushgateway: str | None = None
    linger_s: float = 0.0


@dataclass
class CacheConfig:
    enabled: bool = True
    path: str = ".postgen/calls.sqlite"


@dataclass
class BudgetConfig:
    max_requests: int | None = None
    max_tokens: int | None = None


@dataclass
class Settings:
    topic: str = "Continuous delivery for small teams"
    topic_file: str | None = None
    brief: BriefConfig = field(default_factory=BriefConfig)
    iterations: int = 5
    votes: int = 3
    top_k: int = 3
    synthesis: bool = True
    parallel: bool = False
    concurrency: int = 5
    stage: StagesConfig = field(default_factory=StagesConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    criteria: dict[str, Criterion] = field(default_factory=lambda: packaged_criteria("marketing"))
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    seed: int = 0
    quiet: bool = False
    log_level: str = "INFO"
    resume: str | None = None
    overwrite: bool = False  # let `hydra.run.dir` name a directory holding another run's files

    def stage_model(self, name: str) -> str:
        """The model a stage uses: its own, else the endpoint's (discovered when null)."""
        return self.stage.get(name).model or self.llm.model or ""

    def structured_output(self) -> str:
        """`llm.structured_output`, with the deprecated `llm.json_schema=false` honoured."""
        if self.llm.json_schema is False and self.llm.structured_output == "auto":
            return "prompt"
        return self.llm.structured_output

    def stage_concurrency(self, name: str) -> int:
        """A stage's ceiling: 1 when the run is sequential."""
        return self.stage.get(name).concurrency if self.parallel else 1


def packaged_criteria(name: str) -> dict[str, Criterion]:
    """A rubric shipped in `conf/criteria/` (the `criteria` group's options), as settings."""
    text = resources.files("postgen.conf").joinpath(f"criteria/{name}.yaml").read_text("utf-8")
    return {key: Criterion(**value) for key, value in yaml.safe_load(text).items()}


def checked(settings: Settings) -> Settings:
    """Check every range of `settings` and read `topic_file`; raises `ConfigError`."""
    _check(settings)
    settings.topic = _read_topic(settings)
    _no_key_in_prompts(settings)  # again: the topic file's text is a prompt too
    return settings


def _read_topic(settings: Settings) -> str:
    if settings.topic_file is None:
        return settings.topic.strip()
    if not settings.topic_file.strip():
        raise ConfigError("topic_file", "is empty; give a file, or leave it unset for `topic`")
    path = Path(settings.topic_file).expanduser()
    try:
        # stat first: a FIFO or a device (/dev/zero) is never opened, so never read forever.
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError("topic_file", f"cannot read {path}: Is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("topic_file", f"{path} is not a regular file")
        if info.st_size > MAX_TOPIC_BYTES:
            raise ConfigError(
                "topic_file",
                f"{path} is {info.st_size} bytes; a topic file holds at most {MAX_TOPIC_BYTES}",
            )
        with path.open("rb") as source:
            data = source.read(MAX_TOPIC_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("topic_file", f"no such file: {path}") from None
    except OSError as exc:
        raise ConfigError("topic_file", f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_TOPIC_BYTES:  # it grew after the stat
        raise ConfigError("topic_file", f"{path} holds more than {MAX_TOPIC_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("topic_file", f"{path} is not UTF-8 text") from None
    if not text.strip():
        raise ConfigError("topic_file", f"{path} is empty")
    return text.strip()


def _check(s: Settings) -> None:
    _int_range("iterations", s.iterations, 1, MAX_ITERATIONS)
    _int_range("votes", s.votes, 1, MAX_VOTES)
    _int_range("top_k", s.top_k, 1, s.iterations, hint="at most `iterations`")
    _int_range("concurrency", s.concurrency, 1, MAX_CONCURRENCY)
    _int_range("brief.words", s.brief.words, 50, 20_000)
    if not s.topic_file and not s.topic.strip():
        raise ConfigError("topic", "is empty; give `topic=...` or `topic_file=...`")
    if s.cache.enabled and not s.cache.path.strip():
        raise ConfigError("cache.path", "is empty; give the store's file, or cache.enabled=false")
    if not s.brief.audience.strip():
        raise ConfigError("brief.audience", "is empty; say who the post is for")
    for name in STAGES:
        _check_stage(f"stage.{name}", s.stage.get(name))
    _check_criteria(s.criteria)
    _check_scheduler(s.scheduler)
    _check_llm(s.llm)
    _check_budget(s.budget)
    if s.log_level.upper() not in {"TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"}:
        raise ConfigError("log_level", f"unknown level {s.log_level!r}")
    _no_credentials("metrics.pushgateway", s.metrics.pushgateway)
    if s.metrics.pushgateway is not None:
        _check_url("metrics.pushgateway", s.metrics.pushgateway)
    _check_host("metrics.addr", s.metrics.addr)
    _float_range("metrics.linger_s", s.metrics.linger_s, 0.0, 3600.0)
    if s.metrics.port is not None:
        _int_range("metrics.port", s.metrics.port, 0, 65_535)
    _no_key_in_prompts(s)


def _check_stage(key: str, st: StageConfig) -> None:
    _int_range(f"{key}.concurrency", st.concurrency, 1, MAX_CONCURRENCY)
    _int_range(f"{key}.max_tokens", st.max_tokens, 1, 1_000_000)
    _float_range(f"{key}.temperature", st.temperature, 0.0, 2.0)
    _int_range(f"{key}.retry.attempts", st.retry.attempts, 1, 100)
    _float_range(f"{key}.retry.initial_backoff_s", st.retry.initial_backoff_s, 0.0, 3600.0)
    _float_range(f"{key}.retry.max_backoff_s", st.retry.max_backoff_s, 0.0, 3600.0)
    _float_range(f"{key}.retry.timeout_s", st.retry.timeout_s, 0.001, 3600.0)
    if st.retry.deadline_s is not None:
        _float_range(f"{key}.retry.deadline_s", st.retry.deadline_s, 0.001, 86_400.0)


def _check_criteria(criteria: dict[str, Criterion]) -> None:
    if not criteria:
        raise ConfigError("criteria", "no scoring criteria defined")
    for name, crit in criteria.items():
        if not name.isidentifier():
            raise ConfigError(f"criteria.{name}", "names must be snake_case identifiers")
        if not math.isfinite(crit.weight) or crit.weight <= 0:
            raise ConfigError(f"criteria.{name}.weight", f"must be > 0 (got {crit.weight})")
        if not crit.description.strip():
            raise ConfigError(f"criteria.{name}.description", "is empty")


def _check_scheduler(sc: SchedulerConfig) -> None:
    if sc.kind not in ("adaptive", "fixed"):
        raise ConfigError("scheduler.kind", f"must be adaptive or fixed (got {sc.kind!r})")
    _int_range("scheduler.minimum", sc.minimum, 1, MAX_CONCURRENCY)
    _int_range("scheduler.maximum", sc.maximum, sc.minimum, MAX_CONCURRENCY)
    _int_range("scheduler.initial", sc.initial, sc.minimum, sc.maximum)
    _float_range("scheduler.backoff", sc.backoff, 0.05, 0.95)
    _float_range("scheduler.retry_budget", sc.retry_budget, 0.0, 10.0)
    _int_range("scheduler.retry_budget_min", sc.retry_budget_min, 0, 1_000_000)
    _float_range("scheduler.retry_budget_window_s", sc.retry_budget_window_s, 1.0, 3600.0)
    _float_range("scheduler.brake_tolerance", sc.brake_tolerance, 1.01, 100.0)
    _float_range("scheduler.brake_backoff", sc.brake_backoff, 0.05, 1.0)
    _float_range("scheduler.gate_jitter", sc.gate_jitter, 0.0, 1.0)
    _float_range("scheduler.pace_burst_s", sc.pace_burst_s, 0.0, 3600.0)
    if sc.law not in ("delivery", "aimd"):
        raise ConfigError("scheduler.law", f"must be delivery or aimd (got {sc.law!r})")
    _float_range("scheduler.queue_tolerance", sc.queue_tolerance, 1.01, 100.0)
    _float_range("scheduler.bdp_gain", sc.bdp_gain, 1.0, 10.0)
    _float_range("scheduler.fast_start_period_s", sc.fast_start_period_s, 0.01, 3600.0)
    _float_range("scheduler.max_wait_s", sc.max_wait_s, 0.0, 7 * 86_400.0)
    _float_range("scheduler.item_deadline_s", sc.item_deadline_s, 1.0, 7 * 86_400.0)
    _int_range("scheduler.breaker_failures", sc.breaker_failures, 1, 1_000_000)
    _float_range("scheduler.breaker_s", sc.breaker_s, 0.0, 86_400.0)
    _float_range("scheduler.timeout_patience", sc.timeout_patience, 1.0, 100.0)
    for key, value in (("scheduler.rpm", sc.rpm), ("scheduler.tpm", sc.tpm)):
        if value is not None:
            _float_range(key, value, 0.001, 1e12)


def _check_llm(llm: LLMConfig) -> None:
    if llm.provider != "sim" and not llm.base_url:
        raise ConfigError("llm.base_url", f"is required for provider {llm.provider!r}")
    if llm.base_url is not None:
        _check_url("llm.base_url", llm.base_url)
    _no_credentials("llm.base_url", llm.base_url)
    if llm.api_key_env is not None and not llm.api_key_env.strip():
        raise ConfigError(
            "llm.api_key_env", "is empty; name the variable that holds the key, or leave it unset"
        )
    _float_range("llm.connect_timeout_s", llm.connect_timeout_s, 0.01, 600.0)
    if llm.model is not None and not llm.model.strip():
        raise ConfigError("llm.model", "is empty; null asks the endpoint (/v1/models)")
    if llm.structured_output not in STRUCTURED_OUTPUT_MODES:
        modes = ", ".join(STRUCTURED_OUTPUT_MODES)
        raise ConfigError(
            "llm.structured_output", f"must be one of {modes} (got {llm.structured_output!r})"
        )
    _float_range("llm.stall_s", llm.stall_s, 0.01, 3600.0)
    _float_range("llm.queue_timeout_s", llm.queue_timeout_s, 0.01, 86_400.0)
    if llm.max_reply_bytes is not None:
        _int_range("llm.max_reply_bytes", llm.max_reply_bytes, 1024, 1 << 30)
    _check_sim(llm.sim)


# The names of `postgen.sim.profiles.PROFILES` (config may not import sim; a test pins them).
SIM_PROFILES = (
    "sim",
    "openai",
    "azure",
    "anthropic",
    "bare",
    "overload503",
    "queue",
    "vllm",
    "llamacpp",
    "ollama",
)


def _check_sim(sim: SimOptions) -> None:
    if sim.profile not in SIM_PROFILES:
        raise ConfigError("llm.sim.profile", f"must be one of {', '.join(SIM_PROFILES)}")
    _float_range("llm.sim.time_scale", sim.time_scale, 0.0, 100.0)
    for key in ("error_rate", "hang_rate", "malformed_rate"):
        _float_range(f"llm.sim.{key}", getattr(sim, key), 0.0, 1.0)
    if sim.queue is not None:
        _int_range("llm.sim.queue", sim.queue, -1, 1_000_000, "-1 = unbounded")
    if sim.n_ctx is not None:
        _int_range("llm.sim.n_ctx", sim.n_ctx, 0, 10_000_000, "0 = no context window")
    if sim.batch_slowdown is not None:
        _float_range("llm.sim.batch_slowdown", sim.batch_slowdown, 0.0, 10.0)
    _int_range("llm.sim.chunk_tokens", sim.chunk_tokens, 1, 10_000, "1 = one per token")
    _float_range("llm.sim.rate_burst_s", sim.rate_burst_s, 0.001, 3600.0)


def _check_url(key: str, url: str) -> None:
    """An http(s) URL with a host and, if it names one, a port in 1..65535."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(key, "must start with http:// or https://")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        raise ConfigError(key, "has a port that is not a number in 1..65535") from None
    if not parts.hostname:
        raise ConfigError(key, "has no host")
    if port is not None and not 1 <= port <= 65_535:
        raise ConfigError(key, "has a port that is not a number in 1..65535")
    if any(c.isspace() for c in url):
        raise ConfigError(key, "must not contain spaces")


_HOSTNAME = re.compile(r"(?i)^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$")


def _check_host(key: str, host: str) -> None:
    """An IP address, or a host name that is not a malformed dotted quad (999.1.1.1)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOSTNAME.match(host) or all(p.isdigit() for p in host.rstrip(".").split(".")):
        raise ConfigError(key, f"is not an IP address or host name (got {host!r})")


def _no_key_in_prompts(s: Settings) -> None:
    """Refuse a prompt-bound value that holds the API key (`${oc.env:KEY}` brought it in)."""
    key = os.environ.get(s.llm.api_key_env or "", "").strip() if s.llm.api_key_env else ""
    if len(key) < 8:  # shorter values are too common to mean the key
        return
    for name, text in _prompt_fields(s):
        if key in text:
            raise ConfigError(
                name,
                f"contains the API key (the value of ${s.llm.api_key_env});"
                " a key must never be sent in a prompt",
            )


def _prompt_fields(s: Settings) -> Iterator[tuple[str, str]]:
    yield "topic", s.topic
    b = s.brief
    yield from (("brief.audience", b.audience), ("brief.tone", b.tone))
    yield "brief.call_to_action", b.call_to_action
    yield from ((f"brief.keywords.{i}", k) for i, k in enumerate(b.keywords))
    for name, crit in s.criteria.items():
        yield f"criteria.{name}.description", crit.description
        yield from ((f"criteria.{name}.levels.{k}", v) for k, v in crit.levels.items())


def _no_credentials(key: str, url: str | None) -> None:
    # Hydra saves overrides to disk; a password in a URL would land there and in run.json.
    if url and "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise ConfigError(key, "must not contain credentials; keys come from the environment")


def _check_budget(b: BudgetConfig) -> None:
    if b.max_requests is not None:
        _int_range("budget.max_requests", b.max_requests, 1, 10**12)
    if b.max_tokens is not None:
        _int_range("budget.max_tokens", b.max_tokens, 1, 10**15)


def _int_range(key: str, value: int, lo: int, hi: int, hint: str = "") -> None:
    if not lo <= value <= hi:
        extra = f", {hint}" if hint else ""
        raise ConfigError(key, f"must be between {lo} and {hi}{extra} (got {value})")


def _float_range(key: str, value: float, lo: float, hi: float) -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ConfigError(key, f"must be between {lo:g} and {hi:g} (got {value})")
