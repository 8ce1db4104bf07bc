"""The agent's settings, each stated once: default, kind, documentation, flag, reload.

``AgentConfig`` is the whole configuration. Its slices are the objects the parts of the agent
take: ``DeliveryConfig`` (the sender), ``SpoolConfig`` (the outbox), ``PathsConfig`` and
``SamplersConfig`` (the samplers; their sections are in ``hostvitals.agent.config.samplers``).
Keys, environment variables, flags and the documentation table are derived from these
declarations (``hostvitals.agent.config.declare``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hostvitals.agent.config.declare import Flag, about, group, section, setting
from hostvitals.agent.config.kinds import (
    Boolean,
    Choice,
    FilePath,
    HostName,
    Integer,
    Number,
    OptionalPath,
    OptionalText,
    Urls,
)
from hostvitals.agent.config.samplers import SamplersConfig
from hostvitals.agent.samplers.paths import DEFAULT_PROCFS, DEFAULT_ROOTFS, DEFAULT_SYSFS
from hostvitals.agent.spool.values import FsyncPolicy

DEFAULT_STATE_DIR = Path("/var/lib/hostvitals-agent")
DEFAULT_COLLECTOR_URL = "http://127.0.0.1:8000"
COMPRESSIONS = ("zstd", "gzip", "none")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class PathsConfig:
    """Where the host's file systems are seen: the samplers' file paths start here."""

    procfs: Path = setting(
        DEFAULT_PROCFS,
        FilePath(),
        "Where the host's procfs is mounted; in a container that reports its host, the host's "
        "`/proc` mounted read-only (for example `/host/proc`).",
        flag=Flag("--path.procfs", "procfs mount point (default: /proc)", metavar="PATH"),
        live=False,
    )
    sysfs: Path = setting(
        DEFAULT_SYSFS,
        FilePath(),
        "Where the host's sysfs is mounted (for example `/host/sys`).",
        flag=Flag("--path.sysfs", "sysfs mount point (default: /sys)", metavar="PATH"),
        live=False,
    )
    rootfs: Path = setting(
        DEFAULT_ROOTFS,
        FilePath(),
        "Where the host's root file system is mounted (for example `/host/root`); "
        "`/etc/os-release` is read below it.",
        flag=Flag("--path.rootfs", "root file system mount point (default: /)", metavar="PATH"),
        live=False,
    )


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """Where and how frames are sent: the sender's slice."""

    collector_urls: tuple[str, ...] = setting(
        (DEFAULT_COLLECTOR_URL,),
        Urls(),
        "Collector base URLs in order of preference; the agent posts to `<url>/api/v1/ingest`, "
        "moves on to the next URL when one fails and returns to the first once it answers.",
        flag=Flag(
            "--collector-url",
            "collector base URL; repeat for fail-over, in order of preference",
            metavar="URL",
            repeat=True,
        ),
    )
    token: str | None = setting(
        None,
        OptionalText(),
        "Bearer token sent to the collector, if it requires one.",
        secret=True,
        default_doc="none",
    )
    token_file: Path | None = setting(
        None,
        OptionalPath(),
        "File holding the token (so it does not sit in the configuration); set at most one "
        "of `token` and `token_file`.",
        default_doc="none",
    )
    ca_file: Path | None = setting(
        None,
        OptionalPath(),
        "CA certificates (PEM) that an `https://` collector's certificate must chain to; none "
        "trusts the system's CAs.",
        default_doc="none (the system's CAs)",
    )
    client_cert: Path | None = setting(
        None,
        OptionalPath(),
        "Client certificate (PEM) presented to a collector that asks for one (mTLS): its CN "
        "or a DNS name must be `host`. Set with `client_key`.",
        default_doc="none",
    )
    client_key: Path | None = setting(
        None,
        OptionalPath(),
        "The private key of `client_cert` (PEM, unencrypted).",
        default_doc="none",
    )
    insecure_skip_verify: bool = setting(
        False,
        Boolean(),
        "Do not check the collector's certificate (anyone on the path could pose as the "
        "collector and read the token); for a test bench only, logged loudly at start.",
    )
    file_check_interval: float = setting(
        5.0,
        Number(0.1, 3600),
        "Seconds between checks of `token_file`, `ca_file`, `client_cert` and `client_key`: a "
        "changed file reloads the configuration, as SIGHUP does.",
    )
    compression: str = setting(
        "zstd",
        Choice(COMPRESSIONS),
        "Request body compression; `zstd` falls back to `gzip` when the zstandard module is "
        "not installed.",
    )
    request_timeout: float = setting(
        10.0, Number(1, 120), "Seconds one request to the collector may take."
    )
    retry_backoff_max: float = setting(
        30.0,
        Number(1, 3600),
        "Failed sends are retried with exponential backoff and full jitter, from 1 s doubling "
        "up to this many seconds; 429 and 503 wait as long as Retry-After says.",
    )
    catchup_rate: float = setting(
        20.0,
        Number(0.2, 10_000),
        "Frames per second at most while the backlog is sent after an outage (429 and 503 "
        "lower it).",
    )
    catchup_jitter: float = setting(
        30.0,
        Number(0, 3600),
        "The backlog starts after a random delay of up to this many seconds, so a fleet "
        "coming back does not arrive at once.",
    )


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """The bounds and durability of the on-disk spool: the outbox's slice."""

    max_bytes: int = setting(
        256 * 2**20,
        Integer(16 * 1024, 2**40),
        "Bytes of frames kept on disk; when full, the oldest frames are dropped and counted.",
        live=False,
    )
    max_age: float = setting(
        7 * 86400.0,
        Number(60, 366 * 86400),
        "Seconds a frame may wait in the spool; older ones are dropped and counted.",
        live=False,
    )
    fsync: str = setting(
        FsyncPolicy.INTERVAL.value,
        Choice([policy.value for policy in FsyncPolicy]),
        "When the spool is fsynced (see [the spool](#the-spool)).",
        live=False,
    )
    fsync_interval: float = setting(
        1.0,
        Number(0.01, 3600),
        'Seconds between fsyncs under `spool_fsync = "interval"`.',
        live=False,
    )


@dataclass(frozen=True, slots=True)
class AgentConfig:
    host: str = field(
        metadata=about(
            HostName(),
            "Host name reported for every series.",
            flag=Flag("--host", "host name to report (default: the system's)"),
            default_doc="the system host name",
        )
    )
    interval: float = setting(
        1.0,
        Number(1, 60),
        "Seconds between samples; ticks fall on wall-clock multiples of the interval.",
        flag=Flag("--interval", "sampling interval in seconds", metavar="SECONDS"),
    )
    state_dir: Path = setting(
        DEFAULT_STATE_DIR,
        FilePath(),
        "Where the agent keeps its id, sequence numbers, spool and journal; must survive restarts.",
        flag=Flag("--state-dir", "where the agent id and state live", metavar="PATH"),
        live=False,
    )
    flush_interval: float = setting(
        10.0,
        Number(1, 3600),
        "Seconds of samples per frame (a frame closes earlier at `max_samples_per_frame`); "
        "at least `interval`.",
        default_doc="10, or `interval` if larger",
    )
    max_samples_per_frame: int = setting(
        20_000, Integer(1, 1_000_000), "Upper bound on the samples in one frame."
    )
    outage_flush_interval: float = setting(
        60.0,
        Number(1, 3600),
        "Seconds of samples per frame while the collector is unreachable (at least "
        "`flush_interval`): the backlog goes out in fewer, larger requests.",
    )
    fast_flush: bool = setting(
        True,
        Boolean(),
        "Send a frame every tick while the collector asks for it (its `Hostvitals-Flush-Interval` "
        "answer: someone watches this host live), back to `flush_interval` when answers stop "
        "asking; off: always `flush_interval`.",
    )
    delivery: DeliveryConfig = group(DeliveryConfig)
    spool: SpoolConfig = group(SpoolConfig, "spool_")
    log_level: str = setting(
        "info",
        Choice(LOG_LEVELS),
        "Log verbosity; logs go to stderr, one line per event.",
        flag=Flag("--log-level", "log verbosity"),
    )
    paths: PathsConfig = group(PathsConfig, "path_")
    samplers: SamplersConfig = section(SamplersConfig)
