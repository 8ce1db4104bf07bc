"""The base of every settings section, and the bounds several sections share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Seconds = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    """Frozen, unknown keys refused (a typo fails at start instead of being ignored), and the
    docstring under each field is its description (the settings reference renders them)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
