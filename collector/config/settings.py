"""The collector's settings, one model per section, with their defaults and bounds.

Every model forbids unknown keys so a typo fails at start instead of being ignored. Reading
them from YAML and the environment is :mod:`hostvitals.collector.config.loader`'s part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hostvitals.collector.config.alerts import AlertsSettings, SlosSettings

MiB = 1024 * 1024


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
