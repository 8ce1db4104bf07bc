"""The configuration table of ``docs/agent.md``, rendered from the model.

``python -m hostvitals.agent.config.table`` prints it; a unit test checks that the document
holds exactly this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING
from pathlib import Path
from typing import Any

from hostvitals.agent.config.declare import Key
from hostvitals.agent.config.load import AGENT_KEYS

HEADER = (
    "| key | environment variable | flag | default | values | on reload | what |",
    "|---|---|---|---|---|---|---|",
)


def literal(value: Any) -> str:
    """A default as it would be written in the TOML file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return _cell(f"`{text}`")


def row(key: Key) -> str:
    setting = key.setting
    if setting.default_doc is not None:
        default = setting.default_doc
    elif key.default is MISSING or key.default is None:
        default = "none"
    else:
        default = _code(literal(key.default))
    cells = (
        _code(key.dotted),
        _code(key.env),
        _code(setting.flag.name) if setting.flag is not None else "",
        default,
        _cell(setting.kind.describe()),
        "live" if setting.live else "restart",
        _cell(setting.doc),
    )
    return "| " + " | ".join(cells) + " |"


def render_table(keys: Iterable[Key] = AGENT_KEYS) -> str:
    """The table as Markdown, one row per setting, ending with a newline."""
    return "\n".join([*HEADER, *(row(key) for key in keys)]) + "\n"


if __name__ == "__main__":
    print(render_table(), end="")
