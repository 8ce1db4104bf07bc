"""Agent configuration: a TOML file, overridden by environment variables, then by CLI flags.

Environment variables are ``HOSTVITALS_AGENT_<KEY>``; nested keys join their parts with a
double underscore (``HOSTVITALS_AGENT_SAMPLERS__PROCESSES__TOP_N=5``) and lists are
comma-separated (``HOSTVITALS_AGENT_COLLECTOR_URLS=http://a:8000,http://b:8000``).
Every value is checked; an unknown key or a bad value is an error naming the key, the value
and where it came from. ``deploy/agent.example.toml`` documents every key.
"""

from __future__ import annotations

import math
import re
import socket
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hostvitals.agent.samplers.filesystem import (
    DEFAULT_IGNORED_FS_TYPES,
    DEFAULT_IGNORED_MOUNT_POINTS,
    DEFAULT_STATVFS_TIMEOUT_S,
)
from hostvitals.agent.samplers.processes import DEFAULT_TOP_N
from hostvitals.shared.codec import MAX_HOST_LEN

ENV_PREFIX = "HOSTVITALS_AGENT_"
ENV_NESTING = "__"
DEFAULT_STATE_DIR = Path("/var/lib/hostvitals-agent")
DEFAULT_COLLECTOR_URL = "http://127.0.0.1:8000"
COMPRESSIONS = ("zstd", "gzip", "none")
FSYNC_POLICIES = ("always", "interval", "never")
LOG_LEVELS = ("debug", "info", "warning", "error")
SIMPLE_SAMPLERS = ("cpu", "load", "memory", "disk", "agent")
ALL_SAMPLERS = (*SIMPLE_SAMPLERS, "filesystem", "network", "processes")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class ConfigError(ValueError):
    """The configuration is not usable; the message names the key, value and source."""


@dataclass(frozen=True, slots=True)
class ProcessesConfig:
    interval: float = 5.0
    top_n: int = DEFAULT_TOP_N


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    include_loopback: bool = False


@dataclass(frozen=True, slots=True)
class FilesystemConfig:
    ignored_mount_points: str = DEFAULT_IGNORED_MOUNT_POINTS
    ignored_fs_types: str = DEFAULT_IGNORED_FS_TYPES
    statvfs_timeout: float = DEFAULT_STATVFS_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class SamplersConfig:
    enabled: frozenset[str] = frozenset(ALL_SAMPLERS)
    """Names of the enabled samplers."""
    processes: ProcessesConfig = field(default_factory=ProcessesConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    filesystem: FilesystemConfig = field(default_factory=FilesystemConfig)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    host: str
    interval: float = 1.0
    collector_urls: tuple[str, ...] = (DEFAULT_COLLECTOR_URL,)
    token: str | None = field(default=None, repr=False)
    state_dir: Path = DEFAULT_STATE_DIR
    flush_interval: float = 10.0
    max_samples_per_frame: int = 20_000
    spool_max_bytes: int = 256 * 2**20
    spool_max_age: float = 7 * 86400.0
    spool_fsync: str = "interval"
    spool_fsync_interval: float = 1.0
    outage_flush_interval: float = 60.0
    catchup_rate: float = 20.0
    catchup_jitter: float = 30.0
    retry_backoff_max: float = 30.0
    compression: str = "zstd"
    request_timeout: float = 10.0
    log_level: str = "info"
    samplers: SamplersConfig = field(default_factory=SamplersConfig)


# -- value parsers: (value from TOML, or a string from env/CLI) -> checked value -----------

Parser = Callable[[Any, bool], Any]
"""Takes the raw value and whether it is text (env/CLI) to be converted; raises ValueError."""


def _number(low: float, high: float) -> Parser:
    def parse(value: Any, text: bool) -> float:
        if text:
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"must be between {low:g} and {high:g}")
        return float(value)

    return parse


def _integer(low: int, high: int) -> Parser:
    def parse(value: Any, text: bool) -> int:
        if text:
            try:
                value = int(value)
            except ValueError:
                raise ValueError("must be an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(value: Any, text: bool) -> bool:
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError("must be true or false")
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _string(value: Any, text: bool) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _choice(options: Sequence[str]) -> Parser:
    def parse(value: Any, text: bool) -> str:
        if not isinstance(value, str) or value.lower() not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value.lower()

    return parse


def _regex(value: Any, text: bool) -> str:
    pattern = _string(value, text)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    return pattern


def _path(value: Any, text: bool) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty path")
    return Path(value)


def _host(value: Any, text: bool) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    host = value.strip()
    if not host or len(host) > MAX_HOST_LEN or _CONTROL_RE.search(host):
        raise ValueError(f"must be 1-{MAX_HOST_LEN} printable characters")
    return host


def _url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value.strip().rstrip("/")


def _urls(value: Any, text: bool) -> tuple[str, ...]:
    if text and isinstance(value, str):
        value = [item for item in value.split(",") if item.strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of URLs")
    if not value:
        raise ValueError("must name at least one collector URL")
    urls = tuple(_url(v) for v in value)
    if len(set(urls)) != len(urls):
        raise ValueError("must not list a URL twice")
    return urls


def _optional_string(value: Any, text: bool) -> str | None:
    value = _string(value, text).strip()
    return value or None


def _optional_path(value: Any, text: bool) -> Path | None:
    if isinstance(value, str) and not value.strip():
        return None
    return _path(value, text)


_KEYS: dict[str, Parser] = {
    "interval": _number(1, 60),
    "collector_urls": _urls,
    "token": _optional_string,
    "token_file": _optional_path,
    "host": _host,
    "state_dir": _path,
    "flush_interval": _number(1, 3600),
    "max_samples_per_frame": _integer(1, 1_000_000),
    "spool_max_bytes": _integer(16 * 1024, 2**40),
    "spool_max_age": _number(60, 366 * 86400),
    "spool_fsync": _choice(FSYNC_POLICIES),
    "spool_fsync_interval": _number(0.01, 3600),
    "outage_flush_interval": _number(1, 3600),
    "catchup_rate": _number(0.2, 10_000),
    "catchup_jitter": _number(0, 3600),
    "retry_backoff_max": _number(1, 3600),
    "compression": _choice(COMPRESSIONS),
    "request_timeout": _number(1, 120),
    "log_level": _choice(LOG_LEVELS),
    **{f"samplers.{name}.enabled": _boolean for name in ALL_SAMPLERS},
    "samplers.processes.interval": _number(1, 3600),
    "samplers.processes.top_n": _integer(1, 1000),
    "samplers.network.include_loopback": _boolean,
    "samplers.filesystem.ignored_mount_points": _regex,
    "samplers.filesystem.ignored_fs_types": _regex,
    "samplers.filesystem.statvfs_timeout": _number(0.1, 30),
}
KEYS: tuple[str, ...] = tuple(_KEYS)
"""Every configuration key, dotted."""

CLI_KEYS = {
    "interval": "interval",
    "collector_url": "collector_urls",
    "state_dir": "state_dir",
    "host": "host",
    "log_level": "log_level",
}
"""argparse destination -> configuration key, for the flags that override configuration."""


@dataclass(frozen=True, slots=True)
class _Raw:
    value: Any
    source: str
    text: bool


def _flatten(table: Mapping[str, Any], prefix: str, source: str) -> dict[str, _Raw]:
    out: dict[str, _Raw] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        is_section = any(k.startswith(dotted + ".") for k in _KEYS)
        if isinstance(value, dict):
            if not is_section:
                raise ConfigError(f"unknown key {dotted!r} in {source}")
            out.update(_flatten(value, dotted + ".", source))
        elif is_section:
            raise ConfigError(f"{dotted} must be a table ([{dotted}]) in {source}")
        elif dotted not in _KEYS:
            raise ConfigError(f"unknown key {dotted!r} in {source}")
        else:
            out[dotted] = _Raw(value, source, text=False)
    return out


def read_file(path: Path) -> dict[str, _Raw]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return _flatten(document, "", str(path))


def read_environment(environ: Mapping[str, str]) -> dict[str, _Raw]:
    out: dict[str, _Raw] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace(ENV_NESTING, ".")
        if dotted not in _KEYS:
            raise ConfigError(f"unknown environment variable {name} (no key {dotted!r})")
        out[dotted] = _Raw(value, f"environment variable {name}", text=True)
    return out


def read_cli(flags: Mapping[str, Any]) -> dict[str, _Raw]:
    out: dict[str, _Raw] = {}
    for dest, key in CLI_KEYS.items():
        value = flags.get(dest)
        if value is not None:
            flag = "--" + dest.replace("_", "-")
            out[key] = _Raw(value, f"flag {flag}", text=True)
    return out


def _checked(raw: Mapping[str, _Raw]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, item in raw.items():
        try:
            values[key] = _KEYS[key](item.value, item.text)
        except ValueError as exc:
            shown = "<hidden>" if key == "token" else item.value
            raise ConfigError(f"{key} {exc}, got {shown!r} (from {item.source})") from None
    return values


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"token_file: cannot read {path}: {exc}") from exc
    if not token:
        raise ConfigError(f"token_file: {path} is empty")
    return token


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Defaults, overridden by the file at ``path``, then ``environ``, then CLI ``flags``."""
    raw: dict[str, _Raw] = {}
    if path is not None:
        raw.update(read_file(path))
    raw.update(read_environment(environ or {}))
    raw.update(read_cli(flags or {}))
    values = _checked(raw)

    defaults = AgentConfig(host="-")
    interval = values.get("interval", defaults.interval)
    flush_interval = values.get("flush_interval", max(defaults.flush_interval, interval))
    if flush_interval < interval:
        raise ConfigError(
            f"flush_interval ({flush_interval:g}) must be at least interval ({interval:g})"
        )
    token = values.get("token")
    token_file = values.get("token_file")
    if token is not None and token_file is not None:
        raise ConfigError("set token or token_file, not both")
    if token_file is not None:
        token = _read_token(token_file)
    host = values.get("host")
    if host is None:
        try:
            host = _host(socket.gethostname(), True)
        except ValueError as exc:
            raise ConfigError(f"the system host name {exc}; set host") from None

    def get(key: str, default: Any) -> Any:
        return values.get(key, default)

    fs, procs = FilesystemConfig(), ProcessesConfig()
    samplers = SamplersConfig(
        enabled=frozenset(n for n in ALL_SAMPLERS if get(f"samplers.{n}.enabled", True)),
        processes=ProcessesConfig(
            interval=get("samplers.processes.interval", procs.interval),
            top_n=get("samplers.processes.top_n", procs.top_n),
        ),
        network=NetworkConfig(
            include_loopback=get("samplers.network.include_loopback", False),
        ),
        filesystem=FilesystemConfig(
            ignored_mount_points=get(
                "samplers.filesystem.ignored_mount_points", fs.ignored_mount_points
            ),
            ignored_fs_types=get("samplers.filesystem.ignored_fs_types", fs.ignored_fs_types),
            statvfs_timeout=get("samplers.filesystem.statvfs_timeout", fs.statvfs_timeout),
        ),
    )
    return AgentConfig(
        host=host,
        interval=interval,
        collector_urls=get("collector_urls", defaults.collector_urls),
        token=token,
        state_dir=get("state_dir", defaults.state_dir),
        flush_interval=flush_interval,
        max_samples_per_frame=get("max_samples_per_frame", defaults.max_samples_per_frame),
        spool_max_bytes=get("spool_max_bytes", defaults.spool_max_bytes),
        spool_max_age=get("spool_max_age", defaults.spool_max_age),
        spool_fsync=get("spool_fsync", defaults.spool_fsync),
        spool_fsync_interval=get("spool_fsync_interval", defaults.spool_fsync_interval),
        outage_flush_interval=max(
            flush_interval, get("outage_flush_interval", defaults.outage_flush_interval)
        ),
        catchup_rate=get("catchup_rate", defaults.catchup_rate),
        catchup_jitter=get("catchup_jitter", defaults.catchup_jitter),
        retry_backoff_max=get("retry_backoff_max", defaults.retry_backoff_max),
        compression=get("compression", defaults.compression),
        request_timeout=get("request_timeout", defaults.request_timeout),
        log_level=get("log_level", defaults.log_level),
        samplers=samplers,
    )
