"""What an ingest answer tells the agent about how often to flush.

While someone watches a host (``hostvitals.collector.live.watch``), the answer to each of
its frames carries ``Hostvitals-Flush-Interval: <its sampling interval>``: the agent then
closes a frame every tick, and the live view is at most about one interval old. The collector
asks only while it has headroom: not while the circuit breaker refuses writes, not while the
write queue is more than ``QUEUE_SHARE`` full, and not for more than ``live.watch_max_hosts``
hosts at once (the registry's budget). Each refusal is counted by reason.
"""

from __future__ import annotations

from typing import Final

from hostvitals.collector.live.watch import WatchRegistry
from hostvitals.collector.vm.breaker import BreakerState, CircuitBreaker
from hostvitals.collector.vm.writer import VictoriaMetricsWriter
from hostvitals.shared.protocol import Frame

QUEUE_SHARE: Final = 0.25
"""Past this share of ``victoriametrics.write_queue_max_bytes`` queued, no host is asked to
flush faster: the writer is falling behind."""


class FlushAdvisor:
    def __init__(
        self,
        watch: WatchRegistry,
        writer: VictoriaMetricsWriter,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._watch = watch
        self._writer = writer
        self._breaker = breaker

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
        return None
