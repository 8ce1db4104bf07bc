"""Loading the configuration: defaults < TOML file < environment < flags, then the rules that
tie settings together (``flush_interval`` at least ``interval``, ``token`` or ``token_file``,
the system host name as the default host), and what a reload may change.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hostvitals.agent.config.declare import Key, build, keys_of, values_of
from hostvitals.agent.config.kinds import HostName
from hostvitals.agent.config.model import AgentConfig
from hostvitals.agent.config.sources import (
    ConfigError,
    Raw,
    read_environment,
    read_file,
    read_flags,
)
from hostvitals.agent.tlsclient import TlsFilesError, client_context

AGENT_KEYS: tuple[Key, ...] = keys_of(AgentConfig)
BY_KEY: dict[str, Key] = {key.dotted: key for key in AGENT_KEYS}
KEYS: tuple[str, ...] = tuple(BY_KEY)
"""Every configuration key, dotted."""


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Defaults, overridden by the file at ``path``, then ``environ``, then CLI ``flags``."""
    raw: dict[str, Raw] = {}
    if path is not None:
        raw.update(read_file(path, AGENT_KEYS))
    raw.update(read_environment(environ or {}, AGENT_KEYS))
    raw.update(read_flags(flags or {}, AGENT_KEYS))
    values = _checked(raw)
    _tie(values)
    return build(AgentConfig, values)


def _checked(raw: Mapping[str, Raw]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for dotted, item in raw.items():
        setting = BY_KEY[dotted].setting
        try:
            values[dotted] = setting.kind.parse(item.value, item.text)
        except ValueError as exc:
            shown = "<hidden>" if setting.secret else item.value
            raise ConfigError(f"{dotted} {exc}, got {shown!r} (from {item.source})") from None
    return values


def _tie(values: dict[str, Any]) -> None:
    """Apply the rules between settings to the checked ``values``, in place."""
    interval = values.get("interval", BY_KEY["interval"].default)
    flush = values.get("flush_interval", max(BY_KEY["flush_interval"].default, interval))
    if flush < interval:
        raise ConfigError(f"flush_interval ({flush:g}) must be at least interval ({interval:g})")
    values["flush_interval"] = flush
    outage = values.get("outage_flush_interval", BY_KEY["outage_flush_interval"].default)
    values["outage_flush_interval"] = max(flush, outage)

    token_file = values.get("token_file")
    if values.get("token") is not None and token_file is not None:
        raise ConfigError("set token or token_file, not both")
    if token_file is not None:
        values["token"] = _read_token(token_file)
    _check_tls(values)

    if "host" not in values:
        try:
            values["host"] = HostName().parse(socket.gethostname(), True)
        except ValueError as exc:
            raise ConfigError(f"the system host name {exc}; set host") from None


def _check_tls(values: Mapping[str, Any]) -> None:
    """Both of client_cert and client_key or neither, and files that load: a reload with a
    broken certificate fails and keeps the running configuration."""
    cert, key = values.get("client_cert"), values.get("client_key")
    if (cert is None) != (key is None):
        raise ConfigError("set client_cert and client_key together")
    ca_file = values.get("ca_file")
    if ca_file is None and cert is None:
        return
    try:
        client_context(ca_file, cert, key)
    except TlsFilesError as exc:
        raise ConfigError(str(exc)) from None


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"token_file: cannot read {path}: {exc}") from exc
    if not token:
        raise ConfigError(f"token_file: {path} is empty")
    return token


def keep_restart_only(old: AgentConfig, new: AgentConfig) -> tuple[AgentConfig, list[str]]:
    """``new`` with the running value of every setting a reload cannot change, and the keys
    of those whose value the reload would have changed.
    """
    before, after = values_of(old), values_of(new)
    kept = [
        k.dotted for k in AGENT_KEYS if not k.setting.live and after[k.dotted] != before[k.dotted]
    ]
    if not kept:
        return new, []
    return build(AgentConfig, {**after, **{k: before[k] for k in kept}}), kept
