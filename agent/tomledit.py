"""Set top-level keys of a TOML file in place, keeping its comments and everything else.

``hostvitals-agent enroll`` writes a few keys into a file that an operator (or the package)
may have annotated. Each key's first top-level line (commented out or not) is replaced by
``key = value``; a key that has no line is added above the first table. Other top-level lines
for the same key are commented out, so the file still parses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

Value = str | Sequence[str] | None
"""A string, a list of strings, or None: the key is commented out."""


def render(value: str | Sequence[str]) -> str:
    """A TOML string or array of strings (JSON's escapes are valid TOML basic strings)."""
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(json.dumps(item) for item in value) + "]"


def _key_re(key: str) -> re.Pattern[str]:
    return re.compile(rf"^(#\s*)?{re.escape(key)}\s*=")


def set_keys(text: str, values: Mapping[str, Value]) -> str:
    """``text`` with each top-level key of ``values`` set (or commented out for None)."""
    lines = text.splitlines()
    first_table = next(
        (i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines)
    )
    top, rest = lines[:first_table], lines[first_table:]
    for key, value in values.items():
        pattern = _key_re(key)
        found = [i for i, line in enumerate(top) if pattern.match(line.strip())]
        active = [i for i in found if not top[i].lstrip().startswith("#")]
        if value is None:
            for i in active:
                top[i] = "# " + top[i].lstrip()
            continue
        line = f"{key} = {render(value)}"
        target = active[0] if active else (found[0] if found else None)
        for i in active:
            if i != target:
                top[i] = "# " + top[i].lstrip()
        if target is None:
            while top and not top[-1].strip():
                top.pop()
            top += [line, ""]
        else:
            top[target] = line
    return "\n".join(top + rest) + "\n"


def update_file(path: Path, values: Mapping[str, Value]) -> tuple[str, str]:
    """The file's current text (empty when it does not exist) and the text with ``values``."""
    try:
        before = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = ""
    return before, set_keys(before, values)
