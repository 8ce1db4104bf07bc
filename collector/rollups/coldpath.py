"""The cold path: late ticks the raw tier can no longer hold go straight into the rollup tiers.

The rollup job (:mod:`hostvitals.collector.rollups.job`) computes every bucket from the raw tier,
which
keeps ``tiers.raw_retention_days`` and silently drops older samples. An agent replaying a
spool of several days would therefore lose everything older than that. The cold path takes
over for those ticks:

- The **horizon** is ``now - (raw retention - tiers.cold_margin_s)``. In every rollup tier a
  bucket that starts before the horizon belongs to the cold path, one that starts at or after
  it to the rollup job. Raw writes and rollup marks of a frame keep only its ticks and buckets
  at or after the horizon (:func:`split`); the margin covers the rollup job's delay, so a
  bucket it owns is still whole in the raw tier when it is computed.
- Per (tier, host, series, bucket) the cold path keeps a partial
  :class:`~hostvitals.collector.rollups.rollup.Aggregate` in the state database
  (:mod:`hostvitals.collector.rollups.partials`) and
  merges each frame's samples into it. After a merge it rewrites the bucket's rollup samples
  with the same arithmetic and series names as the rollup job, at ``bucket_start + count`` ms:
  the tier's ``-dedup.minScrapeInterval`` keeps the most complete revision.
- The first merge into a bucket with no partial starts from what the tier already holds
  (a bucket the rollup job computed before it crossed the horizon, or one whose partial was
  evicted): its average times its count, min, max and count, or its last value and count.
  For a counter the tick of that last value is unknown; it counts as older than any merged
  sample, which is right for an agent replaying its spool oldest first.
- Buckets older than a tier's own retention (less the margin) are left out of that tier and
  counted; the coarser tiers still get them.

Exactly once: the ingest path asks the frame ledger first. Then, under one lock, the partials
are read, merged, the new rollups written to the tiers, and only then the partials and the
frame's name committed in one SQLite transaction. A failed write commits nothing (the ingest
answers 503 and the agent retries); a crash between the write and the commit makes the
retry compute and write the same samples again, which the tier stores once. A frame already
recorded as merged is not merged again.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Protocol

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.rollups.partials import REASONS, PartialKey, PartialStore
from hostvitals.collector.rollups.rollup import (
    Aggregate,
    aggregate,
    import_body,
    merge,
    rollup_documents,
)
from hostvitals.collector.rollups.tiers import Tier
from hostvitals.collector.vm.client import ExportSource, ImportTarget
from hostvitals.collector.vm.promql import quote
from hostvitals.shared.catalogue import CATALOGUE, HOST_LABEL, Kind
from hostvitals.shared.protocol import Frame, Series

log = logging.getLogger(__name__)

SWEEP_EVERY_S: Final = 60.0


class TierIO(ImportTarget, ExportSource, Protocol):
    """What the cold path needs from a rollup tier's VictoriaMetrics."""


class ColdUnavailable(Exception):
    """A rollup tier could not be read or written; nothing was merged."""


def horizon_ms(now_ms: int, raw_retention_s: int, margin_s: int) -> int:
    """Ticks before this cannot be rolled up from the raw tier any more."""
    return now_ms - (raw_retention_s - margin_s) * 1000


def accepted_limits(settings: Settings) -> LimitsSettings:
    """The limits the ingest path applies: without rollup tiers no tier can take ticks past
    the raw horizon, so the accepted window ends there."""
    limits = settings.limits
    tiers = settings.tiers
    if tiers.rollups:
        return limits
    raw = tiers.raw_retention_days * 86_400 - tiers.cold_margin_s
    return limits.model_copy(update={"max_sample_age_s": min(limits.max_sample_age_s, raw)})


@dataclass(frozen=True, slots=True)
class Split:
    hot: Frame | None  # the ticks at or after the horizon; None when there are none
    since_ms: int  # rollup buckets starting before this belong to the cold path


def split(frame: Frame, horizon: int) -> Split:
    ticks = frame.timestamps_ms
    cut = bisect.bisect_left(ticks, horizon)
    if cut == 0:
        return Split(frame, horizon)
    if cut == len(ticks):
        return Split(None, horizon)
    hot = Frame(
        agent_id=frame.agent_id,
        host=frame.host,
        seq=frame.seq,
        sent_at_ms=frame.sent_at_ms,
        interval_s=frame.interval_s,
        timestamps_ms=ticks[cut:],
        series=[Series(s.metric, s.labels, s.values[cut:]) for s in frame.series],
        version=frame.version,
    )
    return Split(hot, horizon)


def series_id(labels: Mapping[str, str]) -> str:
    """Canonical text of a series' labels (``__name__`` and ``host`` included)."""
    return orjson.dumps(sorted(labels.items())).decode()


def metric_of(sid: str) -> str:
    return str(dict(orjson.loads(sid)).get("__name__", ""))


class ColdMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.frames = Counter(
            "hostvitals_collector_cold_frames",
            "Frames with ticks past the raw tier's horizon, by result.",
            ("result",),
            registry=registry,
        )
        self.samples = Counter(
            "hostvitals_collector_cold_samples",
            "Samples merged into cold rollup buckets, by tier.",
            ("tier",),
            registry=registry,
        )
        self.skipped = Counter(
            "hostvitals_collector_cold_skipped_samples",
            "Samples older than a tier's retention, left out of that tier.",
            ("tier",),
            registry=registry,
        )
        self.seeded = Counter(
            "hostvitals_collector_cold_seeded_buckets",
            "Cold buckets whose merge started from the value already in the tier.",
            ("tier",),
            registry=registry,
        )
        self.evictions = Counter(
            "hostvitals_collector_cold_evictions",
            "Partial aggregates dropped from the cold path's store, by reason.",
            ("reason",),
            registry=registry,
        )
        self.partials = Gauge(
            "hostvitals_collector_cold_partials",
            "Partial aggregates kept by the cold path.",
            registry=registry,
        )
        for result in ("merged", "duplicate", "failed"):
            self.frames.labels(result)
        for reason in REASONS:
            self.evictions.labels(reason)


class ColdPath:
    def __init__(
        self,
        store: PartialStore,
        tiers: Sequence[Tier],
        targets: Mapping[str, TierIO],
        metrics: ColdMetrics,
        *,
        raw_retention_s: int,
        margin_s: int,
        grace_s: float,
        idle_s: float,
        max_partials: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._tiers = [t for t in tiers if not t.is_raw]
        self._targets = targets
        self._metrics = metrics
        self._raw_retention_s = raw_retention_s
        self._margin_s = margin_s
        self._grace_s = grace_s
        self._idle_s = idle_s
        self._max_partials = max_partials
        self._clock = clock
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        with self._lock:
            metrics.partials.set(len(store))

    def horizon(self, now_ms: int) -> int:
        return horizon_ms(now_ms, self._raw_retention_s, self._margin_s)

    def involves(self, frame: Frame, now_ms: int) -> bool:
        """Whether any rollup bucket of the frame's first tick starts before the horizon."""
        first, horizon = frame.timestamps_ms[0], self.horizon(now_ms)
        return any(first // t.width_ms * t.width_ms < horizon for t in self._tiers)

    def split(self, frame: Frame, now_ms: int) -> Split:
        return split(frame, self.horizon(now_ms))

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    def apply(self, frame: Frame, now_ms: int) -> int:
        """Merge the frame's cold buckets and rewrite their rollups (blocking).

        Returns the samples merged into the tier that took the most of them (each tier takes
        every cold sample its retention allows). Raises ColdUnavailable when a tier cannot be
        read or written.
        """
        pieces = self._pieces(frame, now_ms)
        if not pieces:
            return 0
        now = now_ms / 1000.0
        with self._lock:
            try:
                merged = self._apply(frame, pieces, now)
            except ColdUnavailable:
                self._metrics.frames.labels("failed").inc()
                raise
            if now >= self._next_sweep:
                self._sweep(now)
            self._metrics.partials.set(len(self._store))
        return merged

    def sweep(self, now: float) -> dict[str, int]:
        """Evict complete, idle and surplus partials now (it also happens every minute)."""
        with self._lock:
            removed = self._sweep(now)
            self._metrics.partials.set(len(self._store))
            return removed

    def _pieces(self, frame: Frame, now_ms: int) -> dict[PartialKey, dict[int, float]]:
        horizon = self.horizon(now_ms)
        ticks = frame.timestamps_ms
        host = frame.host
        pieces: dict[PartialKey, dict[int, float]] = {}
        for tier in self._tiers:
            width = tier.width_ms
            floor = now_ms - (tier.retention_s - self._margin_s) * 1000
            skipped = 0
            for series in frame.series:
                sid = series_id({"__name__": series.metric, HOST_LABEL: host, **series.labels})
                for ts, value in zip(ticks, series.values, strict=True):
                    bucket = ts // width * width
                    if bucket >= horizon:
                        break  # ticks increase: the rest belongs to the rollup job
                    if value is None:
                        continue
                    if bucket < floor:
                        skipped += 1
                        continue
                    pieces.setdefault((tier.name, host, sid, bucket), {})[ts] = float(value)
            if skipped:
                self._metrics.skipped.labels(tier.name).inc(skipped)
        return pieces

    def _apply(self, frame: Frame, pieces: dict[PartialKey, dict[int, float]], now: float) -> int:
        store = self._store
        duplicate = store.applied(frame.agent_id, frame.host, frame.seq)
        current = store.load(pieces)
        if duplicate:
            # Merged before, but its answer was lost: write the buckets again, merge nothing.
            rows = current
        else:
            missing = [key for key in pieces if key not in current]
            current.update(self._seed(frame.host, missing))
            rows = {}
            for key, samples in pieces.items():
                kind = CATALOGUE[metric_of(key[2])].kind
                part = aggregate(kind, samples, exact=True)
                base = current.get(key)
                rows[key] = part if base is None else merge(base, part)
        self._write(rows)
        if duplicate:
            self._metrics.frames.labels("duplicate").inc()
            return 0
        newest = max(ts for samples in pieces.values() for ts in samples)
        with store.transaction():
            store.save(rows, now)
            store.record_frame(frame.agent_id, frame.host, frame.seq, newest, now)
        counted: dict[str, int] = defaultdict(int)
        for (tier, *_), samples in pieces.items():
            counted[tier] += len(samples)
        for tier, n in counted.items():
            self._metrics.samples.labels(tier).inc(n)
        self._metrics.frames.labels("merged").inc()
        return max(counted.values(), default=0)

    def _write(self, rows: Mapping[PartialKey, Aggregate]) -> None:
        documents: dict[str, list[dict[str, Any]]] = defaultdict(list)
        widths = {t.name: t.width_ms for t in self._tiers}
        for (tier, _host, sid, bucket), agg in sorted(rows.items()):
            labels = dict(orjson.loads(sid))
            documents[tier].extend(rollup_documents(labels, agg, bucket, widths[tier]))
        for tier, docs in documents.items():
            try:
                status, text = self._targets[tier].post_import(import_body(docs))
            except Exception as exc:
                raise ColdUnavailable(f"rollup tier {tier} is unreachable: {exc}") from None
            if not 200 <= status < 300:
                raise ColdUnavailable(f"rollup tier {tier} answered {status}: {text[:200]}")

    def _seed(self, host: str, keys: Sequence[PartialKey]) -> dict[PartialKey, Aggregate]:
        """What the tiers already hold for buckets without a partial."""
        wanted: dict[str, set[PartialKey]] = defaultdict(set)
        for key in keys:
            wanted[key[0]].add(key)
        out: dict[PartialKey, Aggregate] = {}
        for tier in self._tiers:
            tier_keys = wanted.get(tier.name)
            if not tier_keys:
                continue
            first = min(k[3] for k in tier_keys)
            last = max(k[3] for k in tier_keys) + tier.width_ms - 1
            try:
                body = self._targets[tier.name].export(f"{{host={quote(host)}}}", first, last)
            except Exception as exc:
                raise ColdUnavailable(f"cannot read rollup tier {tier.name}: {exc}") from None
            found = {
                key: agg
                for key, agg in parse_rollups(body, tier.name, host, tier.width_ms).items()
                if key in tier_keys
            }
            if found:
                self._metrics.seeded.labels(tier.name).inc(len(found))
            out.update(found)
        return out

    def _sweep(self, now: float) -> dict[str, int]:
        self._next_sweep = now + SWEEP_EVERY_S
        removed = self._store.evict(
            now,
            {t.name: t.width_ms for t in self._tiers},
            grace_s=self._grace_s,
            idle_s=self._idle_s,
            max_rows=self._max_partials,
        )
        for reason, n in removed.items():
            if n:
                self._metrics.evictions.labels(reason).inc(n)
        return removed


def parse_rollups(body: bytes, tier: str, host: str, width_ms: int) -> dict[PartialKey, Aggregate]:
    """Aggregates rebuilt from a tier's rollup samples (``/api/v1/export`` lines).

    Per series and bucket the sample with the biggest revision counts; a bucket missing one
    of its series (``:min``, ``:count``...) is left out.
    """
    # (series id, bucket) -> suffix -> (revision ts, value)
    seen: dict[tuple[str, int], dict[str, tuple[int, float]]] = defaultdict(dict)
    for line in body.splitlines():
        if not line.strip():
            continue
        doc = orjson.loads(line)
        labels = dict(doc["metric"])
        name, _, suffix = str(labels.get("__name__", "")).partition(":")
        labels["__name__"] = name
        sid = series_id(labels)
        for ts, value in zip(doc["timestamps"], doc["values"], strict=True):
            if value is None:
                continue
            bucket = int(ts) // width_ms * width_ms
            fields = seen[(sid, bucket)]
            if suffix not in fields or fields[suffix][0] < ts:
                fields[suffix] = (int(ts), float(value))
    out: dict[PartialKey, Aggregate] = {}
    for (sid, bucket), fields in seen.items():
        spec = CATALOGUE.get(metric_of(sid))
        if spec is None or "count" not in fields or "" not in fields:
            continue
        count = int(fields["count"][1])
        value = fields[""][1]
        if spec.kind is Kind.GAUGE:
            if "min" not in fields or "max" not in fields:
                continue
            total = Fraction(value) * count
            agg = Aggregate(Kind.GAUGE, count, total, fields["min"][1], fields["max"][1], 0, 0.0)
        else:
            agg = Aggregate(Kind.COUNTER, count, Fraction(0), 0.0, 0.0, bucket - 1, value)
        out[(tier, host, sid, bucket)] = agg
    return out
