"""Mark again the rollup buckets of rows re-sent to the raw tier after it restarted.

VictoriaMetrics can lose rows it had acknowledged when it stops uncleanly, and the collector
writes its recent rows again once it is back (:mod:`hostvitals.collector.vm.resend`). A
rollup bucket computed in between saw the raw tier without those rows, so its count falls
short until it is computed again: the re-sent import bodies name the hosts and ticks whose
buckets are marked here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import orjson

from hostvitals.collector.rollups.queue import QueueFull, RollupQueue

log = logging.getLogger(__name__)


def spans(bodies: Iterable[bytes]) -> dict[str, tuple[int, int]]:
    """Per host, the first and last tick (ms) in import bodies (JSON lines)."""
    out: dict[str, tuple[int, int]] = {}
    for body in bodies:
        for line in body.splitlines():
            if not line.strip():
                continue
            doc = orjson.loads(line)
            host = doc.get("metric", {}).get("host")
            stamps = doc.get("timestamps") or []
            if not isinstance(host, str) or not stamps:
                continue
            lo, hi = min(stamps), max(stamps)
            if host in out:
                lo, hi = min(lo, out[host][0]), max(hi, out[host][1])
            out[host] = (int(lo), int(hi))
    return out


def mark_resent(queue: RollupQueue, bodies: Iterable[bytes], now: float | None = None) -> int:
    """Mark the buckets the bodies' rows fall in; returns the hosts marked."""
    when = time.time() if now is None else now
    marked = 0
    for host, (first_ms, last_ms) in spans(bodies).items():
        try:
            queue.mark(host, first_ms, last_ms, when)
        except QueueFull as exc:
            log.warning("re-sent rows of %r left unmarked for rollups: %s", host, exc)
            continue
        marked += 1
    return marked
