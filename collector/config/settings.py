"""The collector's settings, one model per section, with their defaults and bounds.

Every model forbids unknown keys so a typo fails at start instead of being ignored. Reading
them from YAML and the environment is :mod:`hostvitals.collector.config.loader`'s part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from hostvitals.collector.config.alerts import AlertsSettings
from hostvitals.collector.config.cluster import ClusterSettings
from hostvitals.collector.config.limits import LimitsSettings, QuerySettings, RateLimitSettings
from hostvitals.collector.config.section import Section, renamed
from hostvitals.collector.config.security import AuditSettings, LoggingSettings
from hostvitals.collector.config.slos import SlosSettings
from hostvitals.collector.config.tiers import TiersSettings, VictoriaMetricsSettings
from hostvitals.collector.config.vmlayout import check_tenant


class ServerSettings(Section):
    host: str = "127.0.0.1"
    """Address the HTTP API listens on."""
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    """Port the HTTP API listens on."""
    workers: int = 1
    """Worker processes; only 1 is supported: the live view (hosts, current values, processes)
    is kept in the process's memory."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """How much the collector logs."""
    access_log: bool = False
    """One log line per HTTP request. Off by default: thousands of agents each pushing every few
    seconds would make the log mostly ingest lines, and formatting them cost about a fifth of
    the CPU of a busy collector. Ingest and write counts and latencies are metrics."""
    shutdown_timeout_s: Annotated[int, Field(ge=1, le=3600)] = 5
    """Seconds open requests (a dashboard's live stream never ends by itself) get at shutdown."""
    reload_check_s: Annotated[float, Field(gt=0, le=3600)] = 2.0
    """How often (seconds) the files the collector reloads without a restart are checked for a
    change: `tls.cert_file`, `tls.key_file`, `tls.client_ca_file` and `auth.tokens_file`. A
    SIGHUP reloads them at once."""
    stall_watch_ms: Annotated[int, Field(ge=0, le=60_000)] = 0
    """A debugging aid: record event-loop stalls of at least this many milliseconds with what
    the loop and the other threads ran meanwhile, and every garbage-collector pause, served at
    `GET /api/v1/debug/stalls`. 0 turns it off (and the endpoint answers 404)."""
    header_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    """A connection that has not sent a whole request head (request line and headers) this many
    seconds after it opened, or after the first byte of a request that follows another, is
    answered 408 and closed. Idle keep-alive connections are closed after 5 s."""
    body_timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    """A request body that makes no progress for this many seconds ends the connection
    (408)."""
    max_connections: Annotated[int, Field(ge=16, le=1_000_000)] = 8192
    """Connections open at once; a connection beyond it is answered 503 and closed. The limit
    in force is at most three quarters of the process's open-files limit (`ulimit -n`), so
    the files the collector needs itself stay free."""
    max_connections_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = 512
    """Connections open at once from one client address; one more is answered 429 and closed.
    Agents keep two connections each (fresh and backlog lanes): agents behind one NAT address
    need two per agent."""

    @field_validator("workers")
    @classmethod
    def _one_worker(cls, value: int) -> int:
        if value != 1:
            raise ValueError(
                "only 1 is supported: the live view (hosts, current values, processes) "
                "is kept in the process's memory"
            )
        return value


class AuthSettings(Section):
    tokens: list[SecretStr] = Field(default_factory=list)
    """Legacy agent tokens, accepted on `POST /api/v1/ingest` only and bound to no host: a
    holder may push frames as any host (a warning is logged at start). Register agents with
    `hostvitals-collector agents add` instead (docs/security.md)."""
    tokens_file: Path | None = None
    """A file of legacy agent tokens, one per line (`#` starts a comment); null for none."""
    allow_anonymous: bool = False
    """With no credential of any kind (API tokens, agents, legacy tokens), the collector answers
    anyone, but refuses to start listening beyond loopback unless this is true. Once any
    credential exists it has no effect: every route needs its role."""
    rotation_grace_s: Annotated[float, Field(ge=0, le=30 * 86_400)] = 86_400.0
    """After `agents rotate`, the agent's previous secret stays valid this many seconds, so
    the agent can be given the new one without downtime."""
    session_idle_s: Annotated[float, Field(ge=60, le=30 * 86_400)] = 8 * 3600.0
    """A dashboard login session ends after this many seconds without a request (a live
    stream counts when it connects, not while it stays open)."""
    session_max_s: Annotated[float, Field(ge=60, le=365 * 86_400)] = 7 * 86_400.0
    """A login session ends this many seconds after the login, however busy."""
    guess_limit: Annotated[int, Field(ge=1, le=1000)] = 5
    """Failed logins from one address, failed logins for one user name, and unknown
    credentials (bearer, basic, agent secrets) from one address allowed before that address
    or name is answered 429 with `Retry-After`. A valid credential is never refused."""
    guess_backoff_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    """The first wait past `guess_limit`; it doubles with each further failure."""
    guess_backoff_max_s: Annotated[float, Field(gt=0, le=86_400)] = 900.0
    """The longest wait a throttled address or user name is given, in seconds."""
    guess_forget_s: Annotated[float, Field(gt=0, le=86_400)] = 900.0
    """An address or user name with no failure for this long (and at least
    `guess_backoff_max_s`) starts again with `guess_limit` free tries."""
    guess_table_size: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000
    """Addresses and user names the throttle remembers at most (about 200 bytes each); past
    it the one that failed longest ago is forgotten (counted)."""

    @field_validator("tokens")
    @classmethod
    def _non_empty_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        for secret in value:
            token = secret.get_secret_value()
            if not token.strip() or token != token.strip():
                raise ValueError("tokens must be non-empty and have no surrounding whitespace")
        return value


class TlsSettings(Section):
    """HTTPS, and client certificates (mTLS) for agents. The files are read again when they
    change or on SIGHUP, without a restart (docs/security.md)."""

    cert_file: Path | None = None
    """The collector's certificate chain (PEM, its own certificate first). With `key_file`
    the collector serves HTTPS only; null serves plain HTTP."""
    key_file: Path | None = None
    """The private key of `cert_file` (PEM, unencrypted; keep it mode 0600)."""
    client_ca_file: Path | None = None
    """CA certificates (PEM) that sign agents' client certificates. When set, every handshake
    asks for a client certificate: one that this CA did not sign, or that has expired, fails
    the handshake; a client may still connect without one. On `POST /api/v1/ingest` a
    verified certificate is the agent's identity: the frame's host must be its CN or one of
    its DNS names (else 403, nothing written). A CA added to the file is trusted after a
    reload; one removed stays trusted until a restart."""
    require_client_cert_on_ingest: bool = False
    """Refuse `POST /api/v1/ingest` (401) unless the client presented a certificate signed by
    `client_ca_file`; the other routes keep their API tokens."""

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None

    @model_validator(mode="after")
    def _consistent(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file, or neither")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file (HTTPS)")
        if self.require_client_cert_on_ingest and self.client_ca_file is None:
            raise ValueError("require_client_cert_on_ingest needs client_ca_file")
        return self


class LiveSettings(Section):
    host_ttl_s: Annotated[int, Field(gt=0)] = 86_400
    """Hosts not heard from for this long (seconds) leave the live view."""

    series_ttl_s: Annotated[int, Field(gt=0)] = 900
    """Series (a disk, an interface) not updated for this long (seconds) leave a host's current
    values."""
    stale_after_flushes: Annotated[float, Field(gt=0)] = 3.0
    """A host is stale after this many missed flushes (flush period = a frame's tick span plus
    the interval)."""
    down_after_flushes: Annotated[float, Field(gt=0)] = 10.0
    """A host is down after this many missed flushes."""
    dedup_frames_per_host: Annotated[int, Field(ge=0, le=1_000_000)] = 1024
    """Frames remembered per host, whichever agent ids sent them, so a resent frame is
    acknowledged without a second write (the most recently written ones)."""
    watch_ttl_s: Annotated[float, Field(gt=0, le=600)] = 10.0
    """A host counts as watched for this long (seconds) after the last request that showed it
    live (its current values or processes, each event of its live stream; the fleet page and
    fleet stream watch every host). While watched, ingest answers ask its agent to flush every
    tick (`Hostvitals-Flush-Interval`)."""
    watch_max_hosts: Annotated[int, Field(ge=0, le=100_000)] = 100
    """Hosts asked to flush every tick at once; past it, answers to more watched hosts do not
    ask (counted in `hostvitals_collector_fast_flush_refused_total`), and a host watched by
    itself takes the place of one watched only as part of the fleet. 0 never asks."""
    watch_busy_lag_s: Annotated[float, Field(gt=0, le=60)] = 0.05
    """Past this lag (seconds, smoothed) of the event loop's wake-ups the collector counts as
    short of CPU, and ingest answers ask no host to flush every tick (counted as `busy` in
    `hostvitals_collector_fast_flush_refused_total`)."""
    current_max_series: Annotated[int, Field(ge=100, le=10_000_000)] = 50_000
    """Series in one answer of `GET /api/v1/metrics/current` (its `limit` may ask for fewer):
    hosts are answered in name order while their series fit; the answer then names the last
    host in `next_after` (ask again with `after=` for the next page), and a host holding more
    series than fit by itself is cut, marked `truncated` with its `series_total`."""

    @model_validator(mode="after")
    def _down_after_stale(self) -> LiveSettings:
        if self.down_after_flushes <= self.stale_after_flushes:
            raise ValueError("down_after_flushes must be greater than stale_after_flushes")
        return self

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return renamed(data, "live", {"dedup_frames_per_agent": "dedup_frames_per_host"})


class UiSettings(Section):
    """The dashboard and its live stream (``GET /api/v1/stream``)."""

    stream_interval_s: Annotated[float, Field(ge=0.1, le=60)] = 1.0
    """The dashboard's live stream (`GET /api/v1/stream`) checks for changes this often
    (seconds)."""
    max_streams: Annotated[int, Field(ge=1, le=10_000)] = 64
    """Live streams open at once; more are answered 503."""
    forecast_refresh_s: Annotated[float, Field(ge=1, le=3600)] = 300.0
    """The fleet page's disk forecast ("full in ...") is computed again at most this often
    (seconds), and only while someone asks for the fleet."""
    stream_recheck_s: Annotated[float, Field(ge=0.1, le=60)] = 5.0
    """An open live stream checks its credential again this often (seconds): it ends, with
    a last `end` event saying why, once its session has ended (logout, expiry, a new
    password, the user removed) or its token was revoked."""


class StateSettings(Section):
    """Where the collector keeps what must survive a restart (dedupe ledger, rollup queue)."""

    dir: Path | None = None
    """Directory for the state that must survive a restart: the ledger of written frames
    (exactly-once), the queue of rollup buckets to compute, the cold path's partial
    aggregates and the alert state. null keeps it in memory only."""


class BreakerSettings(Section):
    """The circuit breaker in front of VictoriaMetrics writes."""

    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 3
    """This many failed (or slow) writes in a row open the breaker: ingests are answered 503
    with `Retry-After` at once."""
    open_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """Seconds the breaker stays open before ingests try again."""
    half_open_max_requests: Annotated[int, Field(ge=1, le=10_000)] = 8
    """Ingests let through to try again once the breaker has been open `open_s`."""
    slow_write_s: Annotated[float, Field(gt=0)] = 2.0
    """A write that takes longer than this (seconds) counts as failed, and while one is running
    this long new ingests are answered 503 rather than queued."""


class ObservabilitySettings(Section):
    """Traces of the collector's own work (docs/operations.md)."""

    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint (for example `http://127.0.0.1:4318/v1/traces`): spans of the
    ingest path (receive, decode, validate, dedupe, write) and of queries are sent there in
    batches. Null (the default) traces nothing and costs nothing."""
    service_name: str = "hostvitals-collector"
    """The `service.name` resource attribute of the spans."""
    sample_ratio: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Share of requests traced (a caller's `traceparent` decision is kept)."""
    export_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    """Timeout of one export request to `otlp_endpoint`, in seconds."""

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class Settings(Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    victoriametrics: VictoriaMetricsSettings = Field(default_factory=VictoriaMetricsSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    query: QuerySettings = Field(default_factory=QuerySettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    tiers: TiersSettings = Field(default_factory=TiersSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    slos: SlosSettings = Field(default_factory=SlosSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @model_validator(mode="after")
    def _tenant(self) -> Settings:
        vm = self.victoriametrics
        cluster = ["raw"] if vm.is_cluster else []
        cluster += [tier.name for tier in self.tiers.rollups if tier.is_cluster]
        check_tenant(cluster, vm.account_id, vm.project_id)
        return self

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
