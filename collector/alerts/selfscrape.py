"""Write the collector's own metrics into VictoriaMetrics, so its SLOs have history.

Every ``self_metrics_interval_s`` the collector's registry becomes import lines labelled
``job="hostvitals-collector"`` and ``instance``, written through the normal writer. Before
that, the freshness of each host's newest frame (newest tick to stored) is observed from the
live view: the live view is updated right after a frame's write is acknowledged. Each write
is counted by result (``hostvitals_collector_self_metrics_writes``); the alert engine decides
when to write.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Final, Protocol

import orjson
from prometheus_client import CollectorRegistry, Counter

from hostvitals.collector.live.current import HostSnapshot
from hostvitals.collector.selfmetrics import SelfMetrics

log = logging.getLogger(__name__)

SELF_JOB: Final = "hostvitals-collector"
"""The job label of the collector's own metrics, as written to VictoriaMetrics."""


class Submitter(Protocol):
    def submit(self, body: bytes) -> Future[None]: ...


def import_lines(registry: CollectorRegistry, labels: dict[str, str], now_ms: int) -> bytes:
    out = []
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created") or not math.isfinite(sample.value):
                continue
            metric = {"__name__": sample.name, **sample.labels, **labels}
            out.append(
                orjson.dumps({"metric": metric, "values": [sample.value], "timestamps": [now_ms]})
            )
    return b"\n".join(out) + b"\n" if out else b""


class FreshnessTracker:
    """Observes each new frame's newest-tick-to-stored delay once."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def delays(self, hosts: Iterable[HostSnapshot]) -> list[float]:
        out = []
        present = set()
        for host in hosts:
            present.add(host.host)
            if self._seen.get(host.host) == host.last_seen:
                continue
            self._seen[host.host] = host.last_seen
            out.append(max(0.0, host.last_seen - host.newest_ms / 1000.0))
        for name in [n for n in self._seen if n not in present]:
            del self._seen[name]
        return out


class SelfScrape:
    """The collector's own metrics, written through ``writer`` (None: never written; the
    write counter still exists)."""

    def __init__(
        self,
        metrics: SelfMetrics,
        writer: Submitter | None,
        *,
        instance: str,
        clock: Callable[[], float],
    ) -> None:
        self._metrics = metrics
        self._writer = writer
        self._instance = instance
        self._clock = clock
        self._freshness = FreshnessTracker()
        self._self_writes = Counter(
            "hostvitals_collector_self_metrics_writes",
            "Writes of the collector's own metrics to VictoriaMetrics, by result.",
            ("result",),
            registry=metrics.registry,
        )
        for result in ("ok", "error"):
            self._self_writes.labels(result)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    async def write(self, hosts: list[HostSnapshot]) -> None:
        assert self._writer is not None
        delays = self._freshness.delays(hosts)
        labels = {"job": SELF_JOB, "instance": self._instance}
        stamp_ms = int(self._clock() * 1000)

        def gather() -> bytes:
            # A fleet's delays and every metric of the registry: tens of milliseconds that
            # held the event loop, in a worker thread (the metrics take their own locks).
            for delay in delays:
                self._metrics.freshness.observe(delay)
            return import_lines(self._metrics.registry, labels, stamp_ms)

        body = await asyncio.to_thread(gather)
        if not body:
            return
        try:
            await asyncio.wrap_future(self._writer.submit(body))
        except Exception as exc:
            self._self_writes.labels("error").inc()
            log.warning("cannot write the collector's own metrics: %s", exc)
        else:
            self._self_writes.labels("ok").inc()
