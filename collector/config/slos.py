"""Configuration of SLOs (``slos:``): the built-in ones and your own, validated at start."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field, field_validator, model_validator

from hostvitals.collector.config.alerts import check_labels
from hostvitals.collector.config.section import Positive, Section
from hostvitals.collector.config.vocabulary import Op

_SLO_NAME: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
WINDOW_PLACEHOLDER: Final = "$window"
DAY: Final = 86_400


class IndicatorSettings(Section):
    """An SLI: ``good``/``total`` PromQL with ``$window`` (for example
    ``sum(rate(http_ok_total[$window]))``), or ``expr`` with ``op`` and ``threshold``: the share
    of time the condition holds."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    """The indicator's name, unique within its SLO."""
    good: str | None = None
    """Ratio indicator: PromQL counting good events over a `$window` range..."""
    total: str | None = None
    """...and counting all events over it."""
    expr: str | None = None
    """Threshold indicator: PromQL compared with `threshold`; the share of time the condition
    holds."""
    op: Op | None = None
    """Threshold indicator: the comparison."""
    threshold: float | None = None
    """Threshold indicator: the value compared with."""

    @model_validator(mode="after")
    def _one_kind(self) -> IndicatorSettings:
        ratio = self.good is not None or self.total is not None
        threshold = self.expr is not None or self.op is not None or self.threshold is not None
        if ratio == threshold:
            raise ValueError("an indicator is either good and total, or expr, op and threshold")
        if ratio:
            for key, text in (("good", self.good), ("total", self.total)):
                if not text or WINDOW_PLACEHOLDER not in text:
                    raise ValueError(f"{key} must be PromQL with a {WINDOW_PLACEHOLDER} range")
        elif self.expr is None or self.op is None or self.threshold is None:
            raise ValueError("a threshold indicator needs expr, op and threshold")
        return self


class SloSettings(Section):
    """One service level objective."""

    name: str
    """The SLO's name: 1-63 letters, digits, `.`, `_` or `-`."""
    description: str = ""
    """What the SLO promises, in words."""
    target: Annotated[float, Field(gt=0, lt=1)]
    """The share of good events (or time) promised, between 0 and 1."""
    window_s: Annotated[int, Field(ge=3600)] = 30 * DAY
    """The window (seconds) the target holds over."""
    indicators: Annotated[list[IndicatorSettings], Field(min_length=1)]
    """What is measured; the SLO is as good as its worst indicator."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to the SLO's burn-rate alerts."""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _SLO_NAME.match(value):
            raise ValueError("must be 1-63 characters: letters, digits, '.', '_' or '-'")
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        return check_labels(value)

    @model_validator(mode="after")
    def _unique_indicators(self) -> SloSettings:
        names = [i.name for i in self.indicators]
        if len(set(names)) != len(names):
            raise ValueError("indicator names must be unique within an SLO")
        return self


class SlosSettings(Section):
    builtin: bool = True
    """hostvitals' own SLOs: ingest success ratio and freshness (newest sample to stored)."""
    evaluation_interval_s: Positive = 60.0
    """Seconds between two computations of the SLO reports."""
    budget_alert_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    """Alert when this share of an SLO's error budget is spent over its window."""
    threshold_step_s: Annotated[int, Field(ge=1)] = 60
    """Resolution (seconds) of threshold indicators: the share of steps the condition held."""
    self_metrics_interval_s: Positive = 15.0
    """The collector writes its own metrics to VictoriaMetrics this often (seconds)."""
    ingest_target: Annotated[float, Field(gt=0, lt=1)] = 0.999
    """Target of the built-in ingest SLO."""
    freshness_target: Annotated[float, Field(gt=0, lt=1)] = 0.99
    """Target of the built-in freshness SLO..."""
    freshness_threshold_s: Positive = 2.0
    """...met when the p99 of a frame's newest tick to its write being acknowledged is at most
    this many seconds."""
    window_s: Annotated[int, Field(ge=3600)] = 30 * DAY
    """Window (seconds) of the built-in SLOs."""
    objectives: list[SloSettings] = Field(default_factory=list)
    """Your own SLOs."""

    @model_validator(mode="after")
    def _unique(self) -> SlosSettings:
        names = [o.name for o in self.objectives]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"SLO names must be unique: {', '.join(dupes)}")
        return self
