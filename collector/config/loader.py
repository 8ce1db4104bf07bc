"""Reading the collector's settings: YAML file, then ``HOSTVITALS__<SECTION>__<KEY>``
environment overrides, then the command line's.

The file is the one given with ``--config``, else ``$HOSTVITALS_CONFIG``, else
``config/config.yaml`` when it exists, else ``/etc/hostvitals/collector.yaml`` when it
exists (where the Debian package puts it), else none (built-in defaults). Errors are raised as
:class:`ConfigError` with one line naming the key path and the value, for example
``config error: limits.max_body_bytes: Input should be greater than 0 (got -1)``.
The value of a secret field (a ``SecretStr``, a notifier's URL) is never shown, nor is a
whole section's (it may hold one); the message goes through the masking policy too.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from hostvitals.collector.config.settings import Settings
from hostvitals.shared.masking import mask

CONFIG_ENV = "HOSTVITALS_CONFIG"
ENV_PREFIX = "HOSTVITALS__"
DEFAULT_CONFIG_PATH = Path("config/config.yaml")
SYSTEM_CONFIG_PATH = Path("/etc/hostvitals/collector.yaml")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for the operator."""


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
    for default in (DEFAULT_CONFIG_PATH, SYSTEM_CONFIG_PATH):
        if default.is_file():
            return default
    return None


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
        given = err.get("input")
        if err["type"] != "missing" and err["type"] != "extra_forbidden":
            if _is_secret(err["loc"]):
                text += " (got a hidden value)"
            elif not isinstance(given, dict | list):
                text += f" (got {_short(given)})"
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
    return mask("config error: " + "; ".join(parts))


# Plain-string fields that hold a secret: a webhook's URL carries its key in the path.
_SECRET_NAMES = frozenset({"url"})
_SECRET_SECTIONS = frozenset({"notifiers"})


def _is_secret(loc: tuple[int | str, ...]) -> bool:
    """Whether the field at ``loc`` holds a secret: a ``SecretStr`` (or a list of them), or a
    notifier's URL."""
    model: Any = Settings
    names = [str(p) for p in loc if isinstance(p, str)]
    for i, name in enumerate(names):
        fields = getattr(model, "model_fields", None)
        if not fields or name not in fields:
            return False
        annotation = fields[name].annotation
        if SecretStr in _flatten(annotation):
            return True
        if name in _SECRET_NAMES and i > 0 and names[i - 1] in _SECRET_SECTIONS:
            return True
        model = next((a for a in _flatten(annotation) if _is_model(a)), None)
    return False


def _flatten(annotation: Any) -> list[Any]:
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    return [a for arg in args for a in _flatten(arg)]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


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
