"""The base of every settings section, and the bounds several sections share."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

MiB = 1024 * 1024
Seconds = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    """Frozen, unknown keys refused (a typo fails at start instead of being ignored), and the
    docstring under each field is its description (the settings reference renders them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def renamed(data: Any, section: str, names: Mapping[str, str]) -> Any:
    """``data`` (a section's raw mapping) with keys of an earlier release under their new
    names, each said once in the log, so an upgrade keeps reading its configuration. A file
    with both the old and the new name is refused: which one was meant is not clear."""
    if not isinstance(data, dict):
        return data
    moved = dict(data)
    for old, new in names.items():
        if old not in moved:
            continue
        if new in moved:
            raise ValueError(f"{section}.{old} was renamed {section}.{new}: give only the new name")
        moved[new] = moved.pop(old)
        log.warning("%s.%s is now %s.%s; the old name still works", section, old, section, new)
    return moved
