"""How the configuration model is declared, and how it is walked.

The model is a tree of frozen dataclasses (``hostvitals.agent.config.model``). Every field is
either a setting, declared with ``setting()`` (its default, its kind, one line of
documentation, and optionally a command-line flag, whether it is secret and whether a reload
applies it), or a nested model: a ``section()`` is a TOML table named after the field
(``[samplers.processes]``), a ``group()`` keeps its keys in the enclosing table, optionally
with a prefix (``spool_max_bytes``), so that a part of the agent can take its slice of the
configuration as one object.

``keys_of()`` flattens a model into its settings (``Key``): the dotted TOML key, the attribute
path, the environment variable and the default all follow from where a field sits.
``build()`` makes the model from checked values by dotted key, ``values_of()`` goes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from hostvitals.agent.config.kinds import Kind

T = TypeVar("T")

ENV_PREFIX = "HOSTVITALS_AGENT_"
ENV_NESTING = "__"
_META = "hostvitals.agent.config"


@dataclass(frozen=True, slots=True)
class Flag:
    """A command-line flag that overrides a setting."""

    name: str
    help: str
    metavar: str | None = None
    repeat: bool = False
    """The flag may be given several times; the values form a list."""

    @property
    def dest(self) -> str:
        """The argparse destination: ``--state-dir`` is ``state_dir``."""
        return self.name.lstrip("-").replace("-", "_")


@dataclass(frozen=True, slots=True)
class Setting:
    kind: Kind[Any]
    doc: str
    flag: Flag | None = None
    live: bool = True
    """A reload applies a new value; when False a change waits for a restart."""
    secret: bool = False
    """The value is never shown (not in errors, not in repr)."""
    default_doc: str | None = None
    """How the documentation states the default, when the field's default does not say it."""


@dataclass(frozen=True, slots=True)
class Nested:
    model: type[Any]
    table: bool
    """A TOML table named after the field; else the keys sit in the enclosing table."""
    prefix: str = ""


def about(
    kind: Kind[Any],
    doc: str,
    *,
    flag: Flag | None = None,
    live: bool = True,
    secret: bool = False,
    default_doc: str | None = None,
) -> dict[str, Setting]:
    """Field metadata declaring a setting (for a field without a default)."""
    return {_META: Setting(kind, doc, flag, live, secret, default_doc)}


def setting(
    default: T,
    kind: Kind[T],
    doc: str,
    *,
    flag: Flag | None = None,
    live: bool = True,
    secret: bool = False,
    default_doc: str | None = None,
) -> T:
    """A dataclass field declaring a setting with its default."""
    metadata = about(kind, doc, flag=flag, live=live, secret=secret, default_doc=default_doc)
    return field(default=default, repr=not secret, metadata=metadata)


def section(model: type[T]) -> T:
    """A nested model that is a TOML table named after the field."""
    return field(default_factory=model, metadata={_META: Nested(model, table=True)})


def group(model: type[T], prefix: str = "") -> T:
    """A nested model whose keys sit in the enclosing table, each with ``prefix``."""
    nested = Nested(model, table=False, prefix=prefix)
    return field(default_factory=model, metadata={_META: nested})


@dataclass(frozen=True, slots=True)
class Key:
    """One setting of a model, where it sits and what it defaults to."""

    dotted: str
    """The TOML key, tables joined with dots: ``samplers.processes.top_n``."""
    path: tuple[str, ...]
    """Attribute names from the root: ``("samplers", "processes", "top_n")``."""
    setting: Setting
    default: Any
    """The field's default; ``dataclasses.MISSING`` for a required field."""

    @property
    def env(self) -> str:
        return env_name(self.dotted)


def env_name(dotted: str) -> str:
    """The environment variable of a key: ``HOSTVITALS_AGENT_SAMPLERS__PROCESSES__TOP_N``."""
    return ENV_PREFIX + dotted.upper().replace(".", ENV_NESTING)


def key_of_env(name: str) -> str | None:
    """The dotted key an environment variable names; None when it is not one of ours."""
    if not name.startswith(ENV_PREFIX):
        return None
    return name[len(ENV_PREFIX) :].lower().replace(ENV_NESTING, ".")


def _members(model: type[Any], prefix: str) -> Iterator[tuple[str, Setting | Nested, str]]:
    """(field name, declaration, dotted key) of each field; for a nested model the "key" is
    the prefix of its keys.
    """
    for item in dataclasses.fields(model):
        meta = item.metadata.get(_META)
        if isinstance(meta, Setting):
            yield item.name, meta, prefix + item.name
        elif isinstance(meta, Nested):
            inner = f"{prefix}{item.name}." if meta.table else prefix + meta.prefix
            yield item.name, meta, inner
        else:
            raise TypeError(f"{model.__name__}.{item.name} is not declared with setting()")


def keys_of(model: type[Any]) -> tuple[Key, ...]:
    """Every setting of ``model``, in declaration order."""
    return tuple(_walk(model, "", ()))


def _walk(model: type[Any], prefix: str, path: tuple[str, ...]) -> Iterator[Key]:
    defaults = {item.name: item.default for item in dataclasses.fields(model)}
    for name, meta, dotted in _members(model, prefix):
        if isinstance(meta, Nested):
            yield from _walk(meta.model, dotted, (*path, name))
        else:
            yield Key(dotted, (*path, name), meta, defaults[name])


def build(model: type[T], values: Mapping[str, Any]) -> T:
    """An instance of ``model`` from checked values by dotted key; the rest default."""
    return cast(T, _build(model, values, ""))


def _build(model: type[Any], values: Mapping[str, Any], prefix: str) -> Any:
    kwargs: dict[str, Any] = {}
    for name, meta, dotted in _members(model, prefix):
        if isinstance(meta, Nested):
            kwargs[name] = _build(meta.model, values, dotted)
        elif dotted in values:
            kwargs[name] = values[dotted]
    return model(**kwargs)


def values_of(config: Any) -> dict[str, Any]:
    """Every setting of a model instance, by dotted key."""
    out: dict[str, Any] = {}
    for key in keys_of(type(config)):
        value = config
        for name in key.path:
            value = getattr(value, name)
        out[key.dotted] = value
    return out
