"""What an ingest answer tells the agent about how often to flush.

While someone watches a host (``hostvitals.collector.live.watch``), the answer to each of
its frames carries ``Hostvitals-Flush-Interval: <its sampling interval>``: the agent then
closes a frame every tick, and the live view is at most about one interval old. The collector
asks only while it has headroom: not while the circuit breaker refuses writes, not while the
write queue is more than ``QUEUE_SHARE`` full, not while the event loop runs late (the
process is short of CPU: ``LoopLag``), and not for more than ``live.watch_max_hosts`` hosts at
once (the registry's budget). Each refusal is counted by reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Gauge

from hostvitals.collector.live.watch import WatchRegistry
from hostvitals.collector.vm.breaker import BreakerState, CircuitBreaker
from hostvitals.collector.vm.writer import VictoriaMetricsWriter
from hostvitals.shared.protocol import Frame

QUEUE_SHARE: Final = 0.25
"""Past this share of ``victoriametrics.write_queue_max_bytes`` queued, no host is asked to
flush faster: the writer is falling behind."""


LAG_PERIOD_S: Final = 0.1
BUSY_LAG_S: Final = 0.05
"""Past this lag (smoothed) of the event loop's wake-ups, the collector is short of CPU
(the default of ``live.watch_busy_lag_s``)."""


class LoopLag:
    """How late the event loop wakes up, smoothed: a sleep of ``period_s`` that takes longer
    means the loop was busy with other work for the difference."""

    def __init__(
        self,
        period_s: float = LAG_PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
        busy_lag_s: float = BUSY_LAG_S,
    ) -> None:
        self._period = period_s
        self._busy_lag = busy_lag_s
        self._clock = clock
        self.lag_s = 0.0
        Gauge(
            "hostvitals_collector_event_loop_lag_seconds",
            "How late the event loop wakes up (smoothed); past live.watch_busy_lag_s "
            "(0.05 s) no host is asked to flush every tick.",
            registry=registry,
        ).set_function(lambda: self.lag_s)

    def observe(self, late_s: float) -> None:
        self.lag_s += 0.2 * (max(0.0, late_s) - self.lag_s)

    @property
    def busy(self) -> bool:
        return self.lag_s > self._busy_lag

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            started = self._clock()
            await asyncio.sleep(self._period)
            self.observe(self._clock() - started - self._period)


class FlushAdvisor:
    def __init__(
        self,
        watch: WatchRegistry,
        writer: VictoriaMetricsWriter,
        breaker: CircuitBreaker | None = None,
        lag: LoopLag | None = None,
    ) -> None:
        self._watch = watch
        self._writer = writer
        self._breaker = breaker
        self.lag = lag or LoopLag(registry=CollectorRegistry())

    def fast(self, host: str) -> bool:
        """Whether ``host`` was asked to flush every tick (its frames may be one tick long)."""
        return self._watch.fast(host)

    def advise(self, frame: Frame) -> float | None:
        """The flush interval to ask of the agent that sent ``frame``; None to ask nothing."""
        overload = self._overload() if self._watch.watched(frame.host) else None
        return frame.interval_s if self._watch.grant(frame.host, overload) else None

    def _overload(self) -> str | None:
        if self._breaker is not None and self._breaker.state is not BreakerState.CLOSED:
            return "breaker"
        if self._writer.queued_bytes > QUEUE_SHARE * self._writer.queue_max_bytes:
            return "write_queue"
        if self.lag.busy:
            return "busy"
        return None
