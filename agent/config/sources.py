"""Where configuration values come from: the TOML file, the environment and the flags.

Each reader returns raw values by dotted key, each with where it came from (for error
messages) and whether it is text still to be converted. Unknown keys and environment
variables are errors here; the values themselves are checked by their kinds afterwards.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostvitals.agent.config.declare import Key, key_of_env


class ConfigError(ValueError):
    """The configuration is not usable; the message names the key, value and source."""


@dataclass(frozen=True, slots=True)
class Raw:
    value: Any
    source: str
    text: bool


def read_file(path: Path, keys: Iterable[Key]) -> dict[str, Raw]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return _flatten(document, "", str(path), frozenset(key.dotted for key in keys))


def _flatten(
    table: Mapping[str, Any], prefix: str, source: str, known: frozenset[str]
) -> dict[str, Raw]:
    out: dict[str, Raw] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        is_section = any(k.startswith(dotted + ".") for k in known)
        if isinstance(value, dict):
            if not is_section:
                raise ConfigError(f"unknown key {dotted!r} in {source}")
            out.update(_flatten(value, dotted + ".", source, known))
        elif is_section:
            raise ConfigError(f"{dotted} must be a table ([{dotted}]) in {source}")
        elif dotted not in known:
            raise ConfigError(f"unknown key {dotted!r} in {source}")
        else:
            out[dotted] = Raw(value, source, text=False)
    return out


def read_environment(environ: Mapping[str, str], keys: Iterable[Key]) -> dict[str, Raw]:
    known = frozenset(key.dotted for key in keys)
    out: dict[str, Raw] = {}
    for name, value in environ.items():
        dotted = key_of_env(name)
        if dotted is None:
            continue
        if dotted not in known:
            raise ConfigError(f"unknown environment variable {name} (no key {dotted!r})")
        out[dotted] = Raw(value, f"environment variable {name}", text=True)
    return out


def read_flags(flags: Mapping[str, Any], keys: Iterable[Key]) -> dict[str, Raw]:
    """The settings given as flags; ``flags`` is argparse's namespace as a dict."""
    out: dict[str, Raw] = {}
    for key in keys:
        flag = key.setting.flag
        if flag is not None and (value := flags.get(flag.dest)) is not None:
            out[key.dotted] = Raw(value, f"flag {flag.name}", text=True)
    return out
