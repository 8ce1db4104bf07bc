"""Deliver notifications: one bounded queue and one worker task per notifier.

A worker retries a failed delivery with exponential backoff and full jitter (tenacity),
up to ``delivery_attempts`` times. A notifier that stays down only holds up its own queue:
evaluation and the other notifiers go on. Every failed attempt, every notification given up
and every job dropped because the queue was full is counted, and the last error of each
notifier is kept for the API.

On a graceful stop a worker finishes the attempt in flight (within ``grace_s``) and makes no
further attempts: a notification the receiver already has is recorded as delivered before the
state is saved, so a restart does not send it again. Jobs not yet started stay planned and are
sent by the next start. Only an attempt still unanswered after the grace period is cut off,
and that one may arrive twice (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_random_exponential,
)

from hostvitals.collector.alerts.dispatch import Job
from hostvitals.collector.alerts.notifiers.base import DeliveryError, Notifier

log = logging.getLogger(__name__)


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "hostvitals_collector_alert_notifications",
            "Alert notifications by notifier and outcome (sent, failed, dropped).",
            ("notifier", "result"),
            registry=registry,
        )
        self.failures = Counter(
            "hostvitals_collector_alert_notification_failures",
            "Failed delivery attempts, by notifier and reason (retries included).",
            ("notifier", "reason"),
            registry=registry,
        )


@dataclass(slots=True)
class NotifierStatus:
    name: str
    kind: str
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    failed_attempts: int = 0
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_error: str | None = None
    queued: int = 0


def _retryable(exc: BaseException) -> bool:
    return not isinstance(exc, DeliveryError) or exc.retryable


class DeliveryWorker:
    def __init__(
        self,
        notifier: Notifier,
        metrics: DeliveryMetrics,
        *,
        attempts: int,
        backoff_s: float,
        backoff_max_s: float,
        queue_size: int,
        on_done: Callable[[Job, bool], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.notifier = notifier
        self._metrics = metrics
        self._attempts = attempts
        self._backoff = backoff_s
        self._backoff_max = backoff_max_s
        self._queue: asyncio.Queue[Job] = asyncio.Queue(queue_size)
        self._on_done = on_done
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = threading.Event()  # what tenacity's stop_when_event_set reads
        self._idle = asyncio.Event()
        self._idle.set()
        self.status = NotifierStatus(notifier.name, notifier.settings.type)
        for result in ("sent", "failed", "dropped"):
            metrics.notifications.labels(notifier.name, result)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"notifier-{self.notifier.name}")

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stop taking jobs; let the attempt in flight finish for up to ``grace_s``."""
        self._stopping.set()
        if self._task is not None:
            if grace_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._idle.wait(), grace_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.notifier.close()

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.status.dropped += 1
            self._metrics.notifications.labels(self.notifier.name, "dropped").inc()
            log.warning("notifier %s: queue full, notification dropped", self.notifier.name)
            return False
        self.status.queued = self._queue.qsize()
        return True

    def _count_failure(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = exc.reason if isinstance(exc, DeliveryError) else type(exc).__name__
        self.status.failed_attempts += 1
        self.status.last_failure_at = self._clock()
        self.status.last_error = str(exc)
        self._metrics.failures.labels(self.notifier.name, reason).inc()
        log.warning("notifier %s: delivery failed: %s", self.notifier.name, exc)

    async def _deliver(self, job: Job) -> bool:
        retrying = AsyncRetrying(
            # A stop lets the attempt in flight finish but starts no new one.
            stop=stop_after_attempt(self._attempts) | stop_when_event_set(self._stopping),
            wait=wait_random_exponential(multiplier=self._backoff, max=self._backoff_max),
            retry=retry_if_exception(_retryable),
            after=self._count_failure,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self.notifier.send(job.notification)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A final non-retryable failure is not passed to ``after``: count it here.
            if isinstance(exc, DeliveryError) and not exc.retryable:
                self.status.failed_attempts += 1
                self.status.last_failure_at = self._clock()
                self.status.last_error = str(exc)
                self._metrics.failures.labels(self.notifier.name, exc.reason).inc()
            if self._stopping.is_set():
                # Not given up: the job stays planned and the next start sends it.
                log.info(
                    "notifier %s: stopping; %s is sent after the restart",
                    self.notifier.name,
                    job.group_key,
                )
                return False
            self.status.failed += 1
            self._metrics.notifications.labels(self.notifier.name, "failed").inc()
            log.error("notifier %s: gave up on %s: %s", self.notifier.name, job.group_key, exc)
            return False
        self.status.sent += 1
        self.status.last_success_at = self._clock()
        self._metrics.notifications.labels(self.notifier.name, "sent").inc()
        return True

    async def _run(self) -> None:
        while not self._stopping.is_set():
            job = await self._queue.get()
            self.status.queued = self._queue.qsize()
            delivered = False
            self._idle.clear()
            try:
                delivered = await self._deliver(job)
            finally:
                self._on_done(job, delivered)
                self._idle.set()
