"""Error-budget arithmetic, as in the Google SRE workbook ("Alerting on SLOs").

With a target of 99.9 % the error budget is 0.1 % of the events in the window. A burn rate
of 1 spends exactly the budget over the window; a burn rate ``b`` spends it in
``window / b``. Spending a share ``f`` of the budget within ``long_window`` takes a burn rate
of ``f * window / long_window``: 2 % in 1 h of a 30-day window is 14.4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from hostvitals.collector.config.vocabulary import Severity

HOUR: Final = 3600
DAY: Final = 24 * HOUR

# (name, seconds) of the windows reported by the SLO API.
REPORT_WINDOWS: Final = (
    ("5m", 300),
    ("30m", 1800),
    ("1h", HOUR),
    ("6h", 6 * HOUR),
    ("3d", 3 * DAY),
)


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """One multi-window alert: ``budget_share`` of the budget spent within ``long_s``,
    confirmed over ``short_s`` (a twelfth of it) so the alert resets quickly."""

    budget_share: float
    long_s: int
    short_s: int
    severity: Severity
    action: str

    def burn_rate(self, window_s: float) -> float:
        return burn_rate_for_share(self.budget_share, self.long_s, window_s)


# The workbook's recommended set (table 5-8), for a 30-day window: page at burn rate 14.4
# (2 % in 1 h) and 6 (5 % in 6 h), ticket at 1 (10 % in 3 days).
BURN_ALERTS: Final = (
    BurnAlert(0.02, HOUR, 5 * 60, Severity.CRITICAL, "page"),
    BurnAlert(0.05, 6 * HOUR, 30 * 60, Severity.HIGH, "page"),
    BurnAlert(0.10, 3 * DAY, 6 * HOUR, Severity.MEDIUM, "ticket"),
)


# VictoriaMetrics refuses a subquery that needs more than -search.maxPointsPerTimeseries points
# per series (30,000 by default): 30 days at a 1 min step are 43,200. Stay well below it.
MAX_SUBQUERY_POINTS: Final = 10_000
_ROUND_STEPS: Final = (60, 120, 300, 600, 900, 1800, HOUR, 2 * HOUR, 6 * HOUR, 12 * HOUR, DAY)


def subquery_step(window_s: int, step_s: int) -> int:
    """The step of a ``[window:step]`` subquery: ``step_s``, or the first round multiple of it
    that keeps the subquery within MAX_SUBQUERY_POINTS points."""
    if window_s <= step_s * MAX_SUBQUERY_POINTS:
        return step_s
    needed = math.ceil(window_s / MAX_SUBQUERY_POINTS)
    for step in _ROUND_STEPS:
        if step >= needed and step % step_s == 0:
            return step
    return step_s * math.ceil(needed / step_s)


def error_budget(target: float) -> float:
    """The allowed error ratio: 0.001 for a 99.9 % target."""
    if not 0 < target < 1:
        raise ValueError(f"target must be between 0 and 1, not {target!r}")
    return 1.0 - target


def burn_rate(error_ratio: float, target: float) -> float:
    """How many times faster than allowed the budget is being spent."""
    return error_ratio / error_budget(target)


def burn_rate_for_share(share: float, long_s: float, window_s: float) -> float:
    """The burn rate that spends ``share`` of the window's budget within ``long_s``."""
    return share * window_s / long_s


def budget_share_spent(rate: float, period_s: float, window_s: float) -> float:
    """Share of the budget a burn rate spends over ``period_s``."""
    return rate * period_s / window_s


def time_to_exhaustion(rate: float, window_s: float) -> float:
    """Seconds until a full budget is gone at ``rate`` (infinite at 0)."""
    return float("inf") if rate <= 0 else window_s / rate


def detection_time(error_ratio: float, target: float, alert: BurnAlert, window_s: float) -> float:
    """Seconds until ``alert`` fires when the error ratio jumps from 0 to ``error_ratio``
    (the long window is the slower of the two to fill)."""
    rate = burn_rate(error_ratio, target)
    needed = alert.burn_rate(window_s)
    if rate < needed:
        return float("inf")
    return needed / rate * alert.long_s


def remaining_budget(error_ratio: float, target: float) -> float:
    """Share of the window's budget left (negative when overspent)."""
    return 1.0 - burn_rate(error_ratio, target)


def remaining_budget_s(error_ratio: float, target: float, window_s: float) -> float:
    """The budget left as time of total outage: 43.2 min for an untouched 99.9 %/30 d."""
    return remaining_budget(error_ratio, target) * error_budget(target) * window_s


def burning(rates: dict[int, float], window_s: float) -> list[BurnAlert]:
    """The burn alerts whose long and short windows both exceed their burn rate.

    ``rates`` maps window seconds to the burn rate seen over it; missing windows never burn.
    """
    out = []
    for alert in BURN_ALERTS:
        threshold = alert.burn_rate(window_s)
        long_rate = rates.get(alert.long_s)
        short_rate = rates.get(alert.short_s)
        if long_rate is None or short_rate is None:
            continue
        if long_rate > threshold and short_rate > threshold:
            out.append(alert)
    return out


def duration_text(seconds: float) -> str:
    """A PromQL duration: 300 -> ``5m``, 2592000 -> ``30d``, 90 -> ``90s``."""
    whole = int(seconds)
    if whole != seconds or whole <= 0:
        raise ValueError(f"a duration must be a positive whole number of seconds: {seconds!r}")
    for unit, size in (("d", DAY), ("h", HOUR), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"
