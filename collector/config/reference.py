"""The settings reference: every key of the collector's settings as a Markdown table, rendered
from the models (type, bounds, default, environment variable and the field's docstring).

``docs/configuration.md`` holds the rendered tables; a test keeps it equal to
:func:`reference_tables`. Print them with ``python -m hostvitals.collector.config.reference``.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hostvitals.collector.config.loader import ENV_PREFIX
from hostvitals.collector.config.section import MiB
from hostvitals.collector.config.settings import Settings

_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    SecretStr: "secret string",
    Path: "path",
}
_BOUNDS = (
    ("gt", "> {}"),
    ("ge", ">= {}"),
    ("lt", "< {}"),
    ("le", "<= {}"),
    ("min_length", "at least {} long"),
    ("max_length", "at most {} long"),
    ("pattern", "matching `{}`"),
)


def _items_model(annotation: Any) -> type[BaseModel] | None:
    """The item model of a ``list[SomeSettings]`` field, else None."""
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item
    return None


def _section(annotation: Any) -> type[BaseModel] | None:
    """The model of a nested section (or of a list's items), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:  # bounds of a member of a union: `Annotated[int, Field(ge=0)] | None`
        base, *extra = args
        bounds = [b for info in extra if isinstance(info, FieldInfo) for b in _bounds(info)]
        return ", ".join([_type_name(base), *bounds]) + ("," if bounds else "")
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        text = " or ".join(_type_name(a) for a in kept)
        return f"{text} or null" if len(kept) < len(args) else text
    if origin is list:
        item = args[0]
        return "list of " + ("items (below)" if _section(item) else _type_name(item))
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(info: FieldInfo) -> list[str]:
    """``Field(gt=0, le=10)`` as ``> 0``, ``<= 10`` (pydantic keeps them as metadata)."""
    return [
        text.format(getattr(meta, attr))
        for meta in info.metadata
        for attr, text in _BOUNDS
        if getattr(meta, attr, None) is not None
    ]


def _type(info: FieldInfo) -> str:
    bounds = _bounds(info)
    name = _type_name(info.annotation)
    return f"{name}, {', '.join(bounds)}" if bounds else name


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), separators=(", ", ": "))
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    if isinstance(value, enum.Enum):
        return json.dumps(value.value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    return json.dumps(value)


def _default(info: FieldInfo, key: str) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined:
        return "required"
    text = f"`{_json(value)}`"
    if isinstance(value, int) and key.endswith("_bytes") and value >= MiB and value % MiB == 0:
        text += f" ({value // MiB} MiB)"
    return text


def _description(info: FieldInfo, key: str) -> str:
    if not info.description:
        raise ValueError(f"settings key {key} has no docstring to describe it")
    return " ".join(info.description.split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows(model: type[BaseModel], path: tuple[str, ...], env: bool) -> Iterator[list[str]]:
    for name, info in model.model_fields.items():
        key = (*path, name)
        section = _section(info.annotation)
        if section is not None:
            yield from _rows(section, key, env)
            continue
        dotted = ".".join(key)
        row = [f"`{dotted}`", _type(info), _default(info, dotted)]
        if env:
            row.append(f"`{ENV_PREFIX}{'__'.join(key).upper()}`")
        row.append(_description(info, dotted))
        yield row


def _lists(model: type[BaseModel], path: tuple[str, ...]) -> Iterator[tuple[str, type[BaseModel]]]:
    """Every ``list[SomeSettings]`` field below ``model``, its items' own lists included."""
    for name, info in model.model_fields.items():
        key = (*path, name)
        section = _section(info.annotation)
        if section is not None:
            yield from _lists(section, key)
        item = _items_model(info.annotation)
        if item is not None:
            yield ".".join(key), item
            yield from _lists(item, (f"{'.'.join(key)}[]",))


def _table(header: list[str], rows: Iterator[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def reference_tables(model: type[BaseModel] = Settings) -> str:
    """Markdown: one table of every key, then one table per list of items (rules, notifiers,
    tiers, SLOs...) with the keys of one item."""
    parts = [
        _table(
            ["key", "type", "default", "environment variable", "description"],
            _rows(model, (), env=True),
        )
    ]
    for dotted, item in _lists(model, ()):
        doc = " ".join((item.__doc__ or "").split()).replace("``", "`")
        heading = f"Each item of `{dotted}`" + (f": {doc}" if doc else ".")
        columns = ["key", "type", "default", "description"]
        parts += [heading, _table(columns, _rows(item, (), env=False))]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference_tables(), end="")
