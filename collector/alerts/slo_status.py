"""The SLO report: availability, remaining budget, burn rates and burning indicators.

An SLO whose queries fail is ``unknown``: it shows the error and never reads as burning or
healthy, whatever the windows that did answer say (its budget is over the window that failed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from hostvitals.collector.alerts import slo
from hostvitals.collector.alerts.objectives import Indicator, Objective
from hostvitals.collector.vm.reader import InstantSample


class Querier(Protocol):
    def query(self, query: str, time: float | None = None) -> list[InstantSample]: ...


@dataclass(slots=True)
class IndicatorReport:
    name: str
    error_ratios: dict[int, float | None] = field(default_factory=dict)
    error: str | None = None


def measure(
    querier: Querier, indicator: Indicator, windows: list[int], step_s: int, now: float
) -> IndicatorReport:
    """Query the error ratio of ``indicator`` over each window (None: no data)."""
    report = IndicatorReport(indicator.name)
    for window in windows:
        try:
            samples = querier.query(indicator.error_ratio(window, step_s), now)
        except Exception as exc:  # the report shows the error; other windows still count
            report.error = str(exc)
            report.error_ratios[window] = None
            continue
        values = [s.value for s in samples if math.isfinite(s.value)]
        report.error_ratios[window] = min(1.0, max(0.0, max(values))) if values else None
    return report


def windows_of(objective: Objective) -> list[int]:
    return sorted(
        {
            *(s for _, s in slo.REPORT_WINDOWS),
            *(a.short_s for a in slo.BURN_ALERTS),
            *(a.long_s for a in slo.BURN_ALERTS),
            objective.window_s,
        }
    )


def report(
    objective: Objective, indicators: list[IndicatorReport], evaluated_at: float
) -> dict[str, Any]:
    """The JSON document of ``GET /api/v1/slos/{name}``."""
    target, window = objective.target, objective.window_s
    budget = slo.error_budget(target)
    out_indicators = []
    burning_names = []
    worst: dict[int, float | None] = {}
    errors = [f"{ind.name}: {ind.error}" for ind in indicators if ind.error]
    for ind in indicators:
        rates = {
            w: (None if r is None else slo.burn_rate(r, target))
            for w, r in ind.error_ratios.items()
        }
        known = {w: r for w, r in rates.items() if r is not None}
        alerts = [] if errors else slo.burning(known, window)
        if alerts:
            burning_names.append(ind.name)
        for w, r in ind.error_ratios.items():
            if r is not None:
                prev = worst.get(w)
                worst[w] = r if prev is None else max(prev, r)
            else:
                worst.setdefault(w, None)
        ratio = ind.error_ratios.get(window)
        out_indicators.append(
            {
                "name": ind.name,
                "availability": None if ratio is None else 1.0 - ratio,
                "burn_rates": {name: rates.get(s) for name, s in slo.REPORT_WINDOWS},
                "burning": bool(alerts),
                "burning_alerts": [
                    {
                        "long_window": slo.duration_text(a.long_s),
                        "short_window": slo.duration_text(a.short_s),
                        "burn_rate": a.burn_rate(window),
                        "severity": a.severity.value,
                        "action": a.action,
                    }
                    for a in alerts
                ],
                "error": ind.error,
            }
        )
    ratio = worst.get(window)
    remaining = None if ratio is None else slo.remaining_budget(ratio, target)
    remaining_s = None if ratio is None else slo.remaining_budget_s(ratio, target, window)
    healthy: bool | None = None
    if not errors:
        healthy = not burning_names and (remaining is None or remaining > 0)
    return {
        "name": objective.name,
        "description": objective.description,
        "target": target,
        "window": slo.duration_text(window),
        "window_s": window,
        "availability": None if ratio is None else 1.0 - ratio,
        "error_budget": {
            "total_ratio": budget,
            "total_s": budget * window,
            "remaining_ratio": remaining,
            "remaining_s": remaining_s,
            "consumed_ratio": None if remaining is None else 1.0 - remaining,
        },
        "burn_rates": {
            name: (None if worst.get(s) is None else slo.burn_rate(worst[s] or 0.0, target))
            for name, s in slo.REPORT_WINDOWS
        },
        "state": "unknown" if errors else "healthy" if healthy else "unhealthy",
        "healthy": healthy,
        "error": "; ".join(errors) or None,
        "burning": burning_names,
        "indicators": out_indicators,
        "labels": dict(objective.labels),
        "evaluated_at": evaluated_at,
    }
