"""Collector settings: YAML file, then ``HOSTVITALS__<SECTION>__<KEY>`` environment overrides.

The file is the one given with ``--config``, else ``$HOSTVITALS_CONFIG``, else
``config/config.yaml`` when it exists, else none (built-in defaults). Every model forbids
unknown keys so a typo fails at start instead of being ignored. Errors are raised as
:class:`ConfigError` with one line naming the key path and the value, for example
``config error: limits.max_body_bytes: Input should be greater than 0 (got -1)``.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hostvitals.collector.config.alerts import AlertsSettings, SlosSettings

CONFIG_ENV = "HOSTVITALS_CONFIG"
ENV_PREFIX = "HOSTVITALS__"
DEFAULT_CONFIG_PATH = Path("config/config.yaml")

MiB = 1024 * 1024


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    workers: int = 1
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # One log line per HTTP request. Off by default: thousands of agents each pushing every
    # few seconds would make the log mostly ingest lines, and formatting them cost about a
    # fifth of the CPU of a busy collector. Ingest and write counts and latencies are metrics.
    access_log: bool = False
    # Open requests (live dashboard streams never end by themselves) get this long at shutdown.
    shutdown_timeout_s: Annotated[int, Field(ge=1, le=3600)] = 5

    @field_validator("workers")
    @classmethod
    def _one_worker(cls, value: int) -> int:
        if value != 1:
            raise ValueError(
                "only 1 is supported: the live view (hosts, current values, processes) "
                "is kept in the process's memory"
            )
        return value


class AuthSettings(_Section):
    tokens: list[str] = Field(default_factory=list)
    tokens_file: Path | None = None

    @field_validator("tokens")
    @classmethod
    def _non_empty_tokens(cls, value: list[str]) -> list[str]:
        for token in value:
            if not token.strip() or token != token.strip():
                raise ValueError("tokens must be non-empty and have no surrounding whitespace")
        return value


class VictoriaMetricsSettings(_Section):
    url: str = "http://127.0.0.1:8428"
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    write_batch_max_bytes: Annotated[int, Field(gt=0, le=32 * MiB)] = 4 * MiB
    write_max_delay_ms: Annotated[int, Field(ge=0, le=10_000)] = 10
    write_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    write_queue_max_bytes: Annotated[int, Field(gt=0)] = 64 * MiB
    retry_after_s: Annotated[int, Field(ge=1, le=3600)] = 5
    health_timeout_s: Annotated[float, Field(gt=0)] = 1.0
    health_cache_s: Annotated[float, Field(ge=0)] = 1.0
    # Writes of the last resend_window_s seconds are kept (compressed, within resend_max_bytes)
    # and written again when VictoriaMetrics restarts: it acknowledges rows seconds before they
    # are on disk. 0 turns it off. The restart check runs every restart_check_interval_s.
    resend_window_s: Annotated[float, Field(ge=0, le=600)] = 15.0
    resend_max_bytes: Annotated[int, Field(ge=1 * MiB)] = 64 * MiB
    restart_check_interval_s: Annotated[float, Field(gt=0, le=60)] = 2.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")


class LimitsSettings(_Section):
    max_body_bytes: Annotated[int, Field(gt=0)] = 8 * MiB
    max_decompressed_bytes: Annotated[int, Field(gt=0)] = 64 * MiB
    max_series_per_frame: Annotated[int, Field(gt=0)] = 10_000
    max_samples_per_frame: Annotated[int, Field(gt=0)] = 200_000
    max_label_value_length: Annotated[int, Field(gt=0)] = 256
    # The agent's spool keeps 7 days; the hour on top covers its send delay.
    max_sample_age_s: Annotated[int, Field(gt=0)] = 7 * 86_400 + 3600
    max_future_skew_s: Annotated[int, Field(ge=0)] = 300
    max_labels_per_series: Annotated[int, Field(gt=0, le=1000)] = 16
    max_series_per_agent: Annotated[int, Field(gt=0)] = 10_000


class QuerySettings(_Section):
    default_range_s: Annotated[int, Field(gt=0)] = 3600
    max_points: Annotated[int, Field(gt=0)] = 11_000
    default_points: Annotated[int, Field(gt=0)] = 300
    # Range answers kept this long for identical queries (0: off), within this many bytes.
    cache_ttl_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    cache_max_bytes: Annotated[int, Field(ge=1 * MiB)] = 64 * MiB

    @model_validator(mode="after")
    def _default_within_max(self) -> QuerySettings:
        if self.default_points > self.max_points:
            raise ValueError(
                f"default_points ({self.default_points}) must not exceed "
                f"max_points ({self.max_points})"
            )
        return self


class LiveSettings(_Section):
    host_ttl_s: Annotated[int, Field(gt=0)] = 86_400
    series_ttl_s: Annotated[int, Field(gt=0)] = 900
    stale_after_flushes: Annotated[float, Field(gt=0)] = 3.0
    down_after_flushes: Annotated[float, Field(gt=0)] = 10.0
    dedup_frames_per_agent: Annotated[int, Field(ge=0, le=1_000_000)] = 1024

    @model_validator(mode="after")
    def _down_after_stale(self) -> LiveSettings:
        if self.down_after_flushes <= self.stale_after_flushes:
            raise ValueError("down_after_flushes must be greater than stale_after_flushes")
        return self


class UiSettings(_Section):
    """The dashboard and its live stream (``GET /api/v1/stream``)."""

    stream_interval_s: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    max_streams: Annotated[int, Field(ge=1, le=10_000)] = 64


class ClusterSettings(_Section):
    """Replicas sharing a fleet behind a load balancer (see collector/live/cluster.py)."""

    peers: list[str] = Field(default_factory=list)
    peer_timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    peer_cache_s: Annotated[float, Field(ge=0, le=60)] = 1.0

    @field_validator("peers")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"peers must be http(s)://host:port URLs, not {url!r}")
        return value


class StateSettings(_Section):
    """Where the collector keeps what must survive a restart (dedupe ledger, rollup queue)."""

    dir: Path | None = None


class BreakerSettings(_Section):
    """The circuit breaker in front of VictoriaMetrics writes."""

    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 3
    open_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    half_open_max_requests: Annotated[int, Field(ge=1, le=10_000)] = 8
    slow_write_s: Annotated[float, Field(gt=0)] = 2.0


class RollupTierSettings(_Section):
    """One downsampled tier: its own VictoriaMetrics instance."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]{1,16}$")]
    url: str
    resolution_s: Annotated[int, Field(ge=1, le=86_400)]
    retention_days: Annotated[int, Field(ge=1, le=36_500)]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return VictoriaMetricsSettings._http_url(value)


def _default_rollup_tiers() -> list[RollupTierSettings]:
    return [
        RollupTierSettings(
            name="1m", url="http://127.0.0.1:8429", resolution_s=60, retention_days=7
        ),
        RollupTierSettings(
            name="5m", url="http://127.0.0.1:8430", resolution_s=300, retention_days=30
        ),
        RollupTierSettings(
            name="1h", url="http://127.0.0.1:8431", resolution_s=3600, retention_days=365
        ),
    ]


class TiersSettings(_Section):
    """Retention tiers: raw at ``victoriametrics.url``, then the rollup instances."""

    raw_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 1
    rollups: list[RollupTierSettings] = Field(default_factory=_default_rollup_tiers)
    rollup_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    settle_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    max_pending_buckets: Annotated[int, Field(ge=1)] = 1_000_000
    # The cold path (collector/rollups/coldpath.py): ticks older than raw retention minus this
    # margin
    # go straight into the rollup tiers, kept as partial aggregates until complete.
    cold_margin_s: Annotated[int, Field(ge=60)] = 3600
    cold_grace_s: Annotated[float, Field(ge=0)] = 900.0
    cold_idle_s: Annotated[float, Field(gt=0)] = 86_400.0
    cold_max_partials: Annotated[int, Field(ge=1)] = 1_000_000

    @model_validator(mode="after")
    def _ordered(self) -> TiersSettings:
        names = [t.name for t in self.rollups]
        if "raw" in names or len(set(names)) != len(names):
            raise ValueError("rollup tier names must be unique and not 'raw'")
        prev_res, prev_ret = 0, self.raw_retention_days
        for tier in self.rollups:
            if tier.resolution_s <= prev_res or tier.retention_days < prev_ret:
                raise ValueError(
                    "rollup tiers must go from finer to coarser resolution with retention that "
                    "does not shrink"
                )
            prev_res, prev_ret = tier.resolution_s, tier.retention_days
        return self


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    victoriametrics: VictoriaMetricsSettings = Field(default_factory=VictoriaMetricsSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    query: QuerySettings = Field(default_factory=QuerySettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    tiers: TiersSettings = Field(default_factory=TiersSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    slos: SlosSettings = Field(default_factory=SlosSettings)

    @model_validator(mode="after")
    def _window_within_raw_retention(self) -> Settings:
        # Ticks older than the raw tier's horizon go to the rollup tiers directly (the cold
        # path), so the accepted window may reach back as far as the coarsest tier keeps.
        # Without rollup tiers the window is cut at the raw horizon (see coldpath.py).
        tiers = self.tiers
        if tiers.cold_margin_s >= tiers.raw_retention_days * 86_400:
            raise ValueError("tiers.cold_margin_s must be less than tiers.raw_retention_days")
        if tiers.rollups:
            oldest = tiers.rollups[-1].retention_days * 86_400 - tiers.cold_margin_s
            if self.limits.max_sample_age_s > oldest:
                raise ValueError(
                    f"limits.max_sample_age_s ({self.limits.max_sample_age_s}) must be at most "
                    f"{oldest}: the coarsest tier's retention less tiers.cold_margin_s"
                )
        return self


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the configuration.

    ``overrides`` maps dotted key paths (``"server.port"``) to values and wins over both the
    file and the environment; the command line uses it.
    """
    env = dict(environ or {})
    config_path = _config_path(path, env)
    doc = _read_yaml(config_path) if config_path is not None else {}
    sources: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        key = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(key):
            raise ConfigError(f"config error: {name}: malformed variable name")
        _set_path(doc, key, _env_value(key, raw, name), name)
        sources[key] = name
    for dotted, value in (overrides or {}).items():
        key = tuple(dotted.split("."))
        _set_path(doc, key, value, dotted)
        sources[key] = "command line"
    try:
        return Settings.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources, config_path)) from None


def _config_path(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error: cannot read {path}: {exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"config error: {path} is not valid YAML: {detail}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(
            f"config error: {path} must hold a mapping of sections, got {type(doc).__name__}"
        )
    return doc


def _set_path(doc: dict[str, Any], key: tuple[str, ...], value: Any, source: str) -> None:
    node = doc
    for i, part in enumerate(key[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(key[: i + 1])
            raise ConfigError(f"config error: {where}: is not a section (set by {source})")
        node = child
    node[key[-1]] = value


def _field_annotation(key: tuple[str, ...]) -> Any:
    model: Any = Settings
    annotation: Any = None
    for part in key:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        annotation = fields[part].annotation
        model = annotation
    return annotation


def _env_value(key: tuple[str, ...], raw: str, name: str) -> Any:
    """Environment values are strings; list fields take JSON (``[...]``) or comma-separated."""
    annotation = _field_annotation(key)
    if typing.get_origin(annotation) is not list:
        return raw
    text = raw.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config error: {name}: not a JSON list: {exc}") from None
    return [item.strip() for item in text.split(",") if item.strip()]


def _describe(
    exc: ValidationError, sources: Mapping[tuple[str, ...], str], path: Path | None
) -> str:
    parts = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        where = _format_loc(err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        else:
            message = err["msg"].removeprefix("Value error, ")
        text = f"{where}: {message}"
        if err["type"] != "missing":
            secret = loc[:2] == ("auth", "tokens")
            text += " (got a hidden value)" if secret else f" (got {_short(err.get('input'))})"
        source = next(
            (
                src
                for key, src in sources.items()
                if loc[: len(key)] == key or key[: len(loc)] == loc
            ),
            None,
        )
        if source is not None:
            text += f" [from {source}]"
        elif path is not None:
            text += f" [in {path}]"
        parts.append(text)
    return "config error: " + "; ".join(parts)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
