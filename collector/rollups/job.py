"""The rollup job: compute due buckets from the raw tier and write them to their tier.

A background thread (:class:`~hostvitals.collector.periodic.PeriodicThread`) wakes every
``interval_s``, takes the due buckets from the
:class:`~hostvitals.collector.rollups.queue.RollupQueue`, reads each host's raw samples of the
bucket from the raw tier (``/api/v1/export``), computes the rollups
(:mod:`hostvitals.collector.rollups.rollup`) and imports them into the tier's instance. A
bucket leaves the queue only after its tier accepted the rollup; a failure leaves it for the
next pass, so nothing is skipped when a tier instance is down. Every tier is computed from raw
samples, so no tier depends on another tier being complete.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from hostvitals.collector.periodic import PeriodicThread
from hostvitals.collector.rollups.queue import Pending, RollupQueue
from hostvitals.collector.rollups.rollup import parse_export, rollup_bucket
from hostvitals.collector.rollups.tiers import Tier
from hostvitals.collector.vm.client import ExportSource, ImportTarget
from hostvitals.collector.vm.promql import quote

log = logging.getLogger(__name__)

BATCH = 2000


class RollupMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.buckets = Counter(
            "hostvitals_collector_rollup_buckets",
            "Rollup buckets (tier, host, bucket) computed and written, by result.",
            ("result",),
            registry=registry,
        )
        self.samples = Counter(
            "hostvitals_collector_rollup_raw_samples",
            "Raw samples read to compute rollups.",
            registry=registry,
        )
        self.pending = Gauge(
            "hostvitals_collector_rollup_pending_buckets",
            "Rollup buckets waiting to be computed.",
            registry=registry,
        )
        for result in ("ok", "failed"):
            self.buckets.labels(result)


class RollupJob:
    def __init__(
        self,
        queue: RollupQueue,
        raw: ExportSource,
        tiers: Sequence[Tier],
        targets: Mapping[str, ImportTarget],
        metrics: RollupMetrics,
        *,
        interval_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._queue = queue
        self._raw = raw
        self._tiers = {t.name: t for t in tiers if not t.is_raw}
        self._targets = targets
        self._metrics = metrics
        self._clock = clock
        self._thread = PeriodicThread("rollup-job", interval_s, self._pass, what="rollup pass")
        self._run_lock = threading.Lock()
        metrics.pending.set_function(lambda: len(queue))

    def start(self) -> None:
        if self._tiers:
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._thread.stop(timeout)

    def _pass(self) -> None:
        """Compute what is due, a batch at a time, until less than a batch was due."""
        while self.run_once(self._clock()) >= BATCH and not self._thread.stopping:
            pass

    def run_once(self, now: float) -> int:
        """Compute up to BATCH due buckets; returns how many were due."""
        with self._run_lock:
            items = self._queue.due(now, BATCH)
            finished: list[Pending] = []
            for item in items:
                if self._compute(item):
                    finished.append(item)
            self._queue.done(finished)
            return len(items)

    def _compute(self, item: Pending) -> bool:
        tier = self._tiers.get(item.tier)
        if tier is None:  # a tier removed from the configuration: forget its buckets
            return True
        start, width = item.bucket_ms, tier.width_ms
        try:
            body = self._raw.export(f"{{host={quote(item.host)}}}", start, start + width - 1)
            rollup = rollup_bucket(parse_export(body, start, start + width), start, width)
            if rollup.body:
                status, text = self._targets[tier.name].post_import(rollup.body)
                if not 200 <= status < 300:
                    raise RuntimeError(f"tier {tier.name} answered {status}: {text[:200]}")
        except Exception as exc:
            self._metrics.buckets.labels("failed").inc()
            log.warning(
                "rollup of %s bucket %d for host %r failed: %s", tier.name, start, item.host, exc
            )
            return False
        self._metrics.buckets.labels("ok").inc()
        self._metrics.samples.inc(rollup.samples)
        return True
