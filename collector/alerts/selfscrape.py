"""Write the collector's own metrics into VictoriaMetrics, so its SLOs have history.

Every ``self_metrics_interval_s`` the collector's registry becomes import lines labelled
``job="hostvitals-collector"`` and ``instance``, written through the normal writer. Before
that, the freshness of each host's newest frame (newest tick to stored) is observed from the
live view: the live view is updated right after a frame's write is acknowledged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import orjson
from prometheus_client import CollectorRegistry

from hostvitals.collector.live.current import HostSnapshot

SELF_JOB = "hostvitals-collector"


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


def now_ms() -> int:
    return int(time.time() * 1000)
