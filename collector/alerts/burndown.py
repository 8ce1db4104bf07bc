"""The burn-down of an SLO's error budget: how much of the current window's budget was left at
each point of the window.

The window is cut into buckets of one step. Each bucket's bad and total events are measured
with the indicator's own PromQL (``$window`` set to the step): for a good/total indicator the
bad events are ``total - good`` and the weight is ``total``; for a threshold indicator the bad
share is the share of the bucket's time the condition failed, and every bucket with data
weighs the same. The budget of the window is ``(1 - target) x sum of weights``; the remaining
share after bucket ``k`` is ``1 - (bad events up to k) / budget``. The last point therefore
matches the report's ``remaining_ratio`` (to the step), and the line starts at 1 where the
window starts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hostvitals.collector.alerts import slo
from hostvitals.collector.alerts.objectives import Indicator, Objective
from hostvitals.collector.config.slos import WINDOW_PLACEHOLDER
from hostvitals.collector.vm.reader import RangeSeries

Point = tuple[float, float]


class RangeQuerier(Protocol):
    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[RangeSeries]: ...


@dataclass(frozen=True, slots=True)
class Grid:
    """Bucket ends ``start, start + step, ..., end``; the first bucket begins a step before
    ``start``. Start and end are multiples of the step, so VictoriaMetrics (which rounds the
    bounds of longer range queries to the step) evaluates exactly these points."""

    start: int
    end: int
    step: int

    @property
    def times(self) -> list[int]:
        return list(range(self.start, self.end + 1, self.step))


def grid(window_s: int, now: float, points: int, min_step_s: int) -> Grid:
    """At most ``points`` buckets covering the window that ends at ``now``."""
    if points < 2:
        raise ValueError(f"a burn-down needs at least 2 points, not {points}")
    step = max(min_step_s, math.ceil(window_s / points))
    end = math.ceil(now / step) * step
    buckets = math.ceil(window_s / step)
    return Grid(start=end - (buckets - 1) * step, end=end, step=step)


@dataclass(slots=True)
class Buckets:
    """Bad events and weight per bucket end (only buckets with data)."""

    bad: dict[float, float] = field(default_factory=dict)
    weight: dict[float, float] = field(default_factory=dict)


def _summed(series: Iterable[RangeSeries]) -> dict[float, float]:
    out: dict[float, float] = defaultdict(float)
    for s in series:
        for t, v in s.points:
            out[t] += v
    return dict(out)


def _worst(series: Iterable[RangeSeries]) -> dict[float, float]:
    out: dict[float, float] = {}
    for s in series:
        for t, v in s.points:
            out[t] = max(v, out.get(t, v))
    return out


def measure(querier: RangeQuerier, indicator: Indicator, g: Grid, threshold_step_s: int) -> Buckets:
    """Query one indicator's bad events and weight per bucket."""
    window = slo.duration_text(g.step)
    buckets = Buckets()
    if indicator.good is not None and indicator.total is not None:
        good = _summed(
            querier.query_range(
                indicator.good.replace(WINDOW_PLACEHOLDER, window), g.start, g.end, g.step
            )
        )
        total = _summed(
            querier.query_range(
                indicator.total.replace(WINDOW_PLACEHOLDER, window), g.start, g.end, g.step
            )
        )
        for t, n in total.items():
            if n > 0:
                buckets.weight[t] = n
                buckets.bad[t] = min(n, max(0.0, n - good.get(t, 0.0)))
        return buckets
    query = indicator.error_ratio(g.step, min(threshold_step_s, g.step))
    for t, share in _worst(querier.query_range(query, g.start, g.end, g.step)).items():
        buckets.weight[t] = 1.0
        buckets.bad[t] = min(1.0, max(0.0, share))
    return buckets


def remaining(buckets: Buckets, g: Grid, target: float, now: float) -> list[Point]:
    """Remaining budget share after each bucket, from the first bucket with data on."""
    total = sum(buckets.weight.values())
    if total <= 0:
        return []
    budget = slo.error_budget(target) * total
    spent = 0.0
    out: list[Point] = []
    for t in g.times:
        if not out and t not in buckets.weight:
            continue
        spent += buckets.bad.get(t, 0.0)
        out.append((min(float(t), now), 1.0 - spent / budget))
    return out


def worst_of(lines: list[list[Point]]) -> list[Point]:
    """Pointwise minimum of several lines (the SLO is as good as its worst indicator)."""
    merged: dict[float, float] = {}
    for line in lines:
        for t, v in line:
            merged[t] = min(v, merged.get(t, v))
    return sorted(merged.items())


def burn_down(
    querier: RangeQuerier, objective: Objective, now: float, points: int, threshold_step_s: int
) -> dict[str, Any]:
    """The JSON document of ``GET /api/v1/slos/{name}/burndown``."""
    g = grid(objective.window_s, now, points, threshold_step_s)
    indicators: list[dict[str, Any]] = []
    lines: list[list[Point]] = []
    for ind in objective.indicators:
        try:
            line = remaining(measure(querier, ind, g, threshold_step_s), g, objective.target, now)
            error = None
        except Exception as exc:  # shown with the indicator; the others still count
            line, error = [], str(exc)
        lines.append(line)
        indicators.append({"name": ind.name, "remaining": line, "error": error})
    return {
        "name": objective.name,
        "target": objective.target,
        "window_s": objective.window_s,
        "start": g.start - g.step,
        "end": now,
        "step": g.step,
        "remaining": worst_of(lines),
        "indicators": indicators,
    }
