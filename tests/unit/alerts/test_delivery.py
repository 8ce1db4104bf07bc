"""The delivery worker's stop: the attempt in flight finishes and is recorded; none starts."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from hostvitals.collector.alerts.delivery import DeliveryMetrics, DeliveryWorker
from hostvitals.collector.alerts.dispatch import Job
from hostvitals.collector.alerts.notifiers.base import DeliveryError, Notification
from hostvitals.collector.config.alerts import NotifierSettings


class SlowNotifier:
    """Answers after ``delay`` seconds; fails the first ``failures`` attempts."""

    def __init__(self, delay: float, failures: int = 0) -> None:
        self.settings = NotifierSettings(name="slow", type="webhook", url="http://127.0.0.1:9/x")
        self.delay = delay
        self.failures = failures
        self.started = asyncio.Event()
        self.attempts = 0
        self.arrived = 0
        self.closed = False

    @property
    def name(self) -> str:
        return self.settings.name

    async def send(self, notification: Notification) -> None:
        self.attempts += 1
        self.started.set()
        await asyncio.sleep(self.delay)
        if self.attempts <= self.failures:
            raise DeliveryError("receiver answered 500", reason="http_5xx")
        self.arrived += 1

    async def close(self) -> None:
        self.closed = True


def job(key: str = "g") -> Job:
    notification = Notification("slow", key, {}, (), "http://127.0.0.1:8000")
    return Job("slow", key, notification, frozenset({"f"}), frozenset())


def worker(notifier: SlowNotifier, done: list[tuple[str, bool]]) -> DeliveryWorker:
    return DeliveryWorker(
        notifier,
        DeliveryMetrics(CollectorRegistry()),
        attempts=5,
        backoff_s=0.01,
        backoff_max_s=0.01,
        queue_size=8,
        on_done=lambda j, ok: done.append((j.group_key, ok)),
    )


async def test_a_stop_lets_the_delivery_in_flight_finish_and_records_it() -> None:
    notifier = SlowNotifier(delay=0.3)
    done: list[tuple[str, bool]] = []
    w = worker(notifier, done)
    w.start()
    assert w.submit(job("first"))
    assert w.submit(job("queued"))
    await asyncio.wait_for(notifier.started.wait(), 5)
    await w.stop(grace_s=5)
    # The one in flight arrived and is recorded as sent; the queued one was never started
    # (it stays planned in the dispatcher and goes out after the restart).
    assert (notifier.arrived, done) == (1, [("first", True)])
    assert (w.status.sent, w.status.failed) == (1, 0)
    assert notifier.closed


async def test_a_stop_makes_no_new_attempt_and_does_not_count_a_give_up() -> None:
    notifier = SlowNotifier(delay=0.2, failures=1)
    done: list[tuple[str, bool]] = []
    w = worker(notifier, done)
    w.start()
    w.submit(job())
    await asyncio.wait_for(notifier.started.wait(), 5)
    await w.stop(grace_s=5)
    assert notifier.attempts == 1  # the failed attempt was not retried after the stop
    assert done == [("g", False)]  # retried by the next start, not given up
    assert (w.status.failed, w.status.failed_attempts) == (0, 1)


async def test_a_delivery_slower_than_the_grace_is_cut_off() -> None:
    notifier = SlowNotifier(delay=30)
    done: list[tuple[str, bool]] = []
    w = worker(notifier, done)
    w.start()
    w.submit(job())
    await asyncio.wait_for(notifier.started.wait(), 5)
    await asyncio.wait_for(w.stop(grace_s=0.2), 5)
    assert (notifier.arrived, done) == (0, [("g", False)])


async def test_an_idle_worker_stops_at_once() -> None:
    notifier = SlowNotifier(delay=0)
    w = worker(notifier, [])
    w.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(w.stop(grace_s=30), 1)
    assert notifier.closed
