"""SLO evaluation: each objective's report, measured on the SLO interval.

Every indicator's error ratio is queried over each window an objective needs (in a worker
thread: the reader is blocking) and becomes the objective's report. The newest reports are
kept: the API serves them, and an SLO's ``slo_error`` rule fires while its report shows an
error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hostvitals.collector.alerts import slo_status
from hostvitals.collector.alerts.model import Rule
from hostvitals.collector.alerts.objectives import Objective
from hostvitals.collector.alerts.slo_status import Querier
from hostvitals.collector.alerts.state import Sample


class SloEvaluator:
    def __init__(self, objectives: list[Objective], querier: Querier, step_s: int) -> None:
        self._objectives = objectives
        self._querier = querier
        self._step_s = step_s
        self.reports: dict[str, dict[str, Any]] = {}

    async def evaluate(self, now: float) -> None:
        def run() -> dict[str, dict[str, Any]]:
            out = {}
            for objective in self._objectives:
                windows = slo_status.windows_of(objective)
                reports = [
                    slo_status.measure(self._querier, ind, windows, self._step_s, now)
                    for ind in objective.indicators
                ]
                out[objective.name] = slo_status.report(objective, reports, now)
            return out

        self.reports = await asyncio.to_thread(run)

    def errors(self, rule: Rule) -> list[Sample]:
        """The samples of an ``slo_error`` rule: one while its SLO's report shows an error."""
        report = self.reports.get(rule.labels["slo"], {})
        return [Sample({}, 1.0)] if report.get("error") else []
