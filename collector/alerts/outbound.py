"""The alert engine's way out: the dispatcher that decides what each notifier hears, and
one delivery worker per notifier that sends it, retries, and reports back.

The engine (:mod:`.engine`) evaluates rules and owns the alerts; this module owns the
notifications. A delivery's outcome goes back to the dispatcher's notification log through
``on_done``, which the engine uses to save the state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from hostvitals.collector.alerts.delivery import DeliveryMetrics, DeliveryWorker
from hostvitals.collector.alerts.dispatch import Dispatcher, Job, Target
from hostvitals.collector.alerts.model import Alert
from hostvitals.collector.alerts.notifiers import Notifier
from hostvitals.collector.alerts.silences import Silences
from hostvitals.collector.config.alerts import AlertsSettings
from hostvitals.collector.selfmetrics import SelfMetrics


class Outbound:
    def __init__(
        self,
        alerts: AlertsSettings,
        notifiers: list[Notifier],
        silences: Silences,
        metrics: SelfMetrics,
        *,
        on_done: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = alerts
        self._on_done = on_done
        self._clock = clock
        delivery_metrics = DeliveryMetrics(metrics.registry)
        self.workers = {
            n.name: DeliveryWorker(
                n,
                delivery_metrics,
                attempts=alerts.delivery_attempts,
                backoff_s=alerts.delivery_backoff_s,
                backoff_max_s=alerts.delivery_backoff_max_s,
                queue_size=alerts.delivery_queue_size,
                on_done=self._delivered,
                clock=clock,
            )
            for n in notifiers
        }
        self.dispatcher = Dispatcher(
            alerts,
            [
                Target(n.name, frozenset(n.settings.severities), n.settings.send_resolved)
                for n in notifiers
            ],
            silences,
            self._generator_url,
        )

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    async def stop(self, grace_s: float) -> None:
        """Deliveries in flight finish (within ``grace_s``) and are recorded."""
        await asyncio.gather(*(worker.stop(grace_s) for worker in self.workers.values()))

    def load(self, log: dict[str, Any]) -> None:
        self.dispatcher.load(log)

    def dump(self) -> dict[str, Any]:
        return self.dispatcher.dump()

    async def dispatch(self, alerts: list[Alert], now: float) -> None:
        for job in await self.dispatcher.plan_in_slices(alerts, now):
            if not self.workers[job.notifier].submit(job):
                self.dispatcher.release(job)

    def _delivered(self, job: Job, delivered: bool) -> None:
        self.dispatcher.done(job, delivered, self._clock())
        self._on_done()

    def _generator_url(self, alert: Alert) -> str:
        return f"{self._settings.external_url}/api/v1/rules?rule_id={alert.rule_id}"
