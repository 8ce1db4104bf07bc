"""Compute one bucket's rollups from raw samples: pure, no I/O.

For every raw series with samples in the bucket ``[start, start + width)`` the rollup tier
gets, at one timestamp:

- gauges: ``<name>`` = average, ``<name>:min``, ``<name>:max``, ``<name>:count``;
- counters: ``<name>`` = last value (so ``rate()`` and ``increase()`` still work),
  ``<name>:count``.

Every rollup sample of a series in a bucket is written at ``start + revision`` ms, where the
revision is the number of raw samples the bucket held (capped below the width). The tier
instance runs with ``-dedup.minScrapeInterval=<width>`` and keeps, per series and bucket, the
sample with the biggest timestamp: a recomputation that saw more raw data (late frames, the
other replica's frames) therefore wins, and two identical computations write identical
samples. Raw data only grows (VictoriaMetrics deduplicates it at 1 ms), so the revision only
grows too. The average uses ``math.fsum``, which is exact and independent of sample order,
so the same raw samples always give bit-identical values.

:class:`Aggregate` is what a bucket's figures are made of (count, exact sum, min, max; last
value and its tick), so partial aggregates can be merged (:func:`merge`, used by
:mod:`hostvitals.collector.rollups.coldpath`) and still give the figures a single computation over
all the
samples gives: the sum is an exact :class:`~fractions.Fraction`, rounded once, as ``fsum``
rounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import orjson

from hostvitals.shared.catalogue import CATALOGUE, Kind

SUFFIXES: Final = {Kind.GAUGE: ("", ":min", ":max", ":count"), Kind.COUNTER: ("", ":count")}


@dataclass(frozen=True, slots=True)
class BucketRollup:
    """Import lines for one bucket of a rollup tier."""

    body: bytes
    series: int  # raw series rolled up
    samples: int  # raw samples they held


@dataclass(frozen=True, slots=True)
class Aggregate:
    """One series' samples in one bucket, in a form that merges exactly.

    Gauges use ``total`` (the exact sum), ``low`` and ``high``; counters ``last`` and the
    tick it was taken at, ``last_ms``. Both keep ``count``.
    """

    kind: Kind
    count: int
    total: Fraction
    low: float
    high: float
    last_ms: int
    last: float


def aggregate(kind: Kind, samples: Mapping[int, float], *, exact: bool = False) -> Aggregate:
    """The aggregate of ``samples`` (tick ms -> value; not empty).

    The sum is ``math.fsum`` (correctly rounded) unless ``exact``, which keeps it exact so
    that merged aggregates round only once.
    """
    values = list(samples.values())
    exact_sum = sum(map(Fraction, values), Fraction(0)) if exact else None
    total = Fraction(math.fsum(values)) if exact_sum is None else exact_sum
    last_ms = max(samples)
    return Aggregate(kind, len(values), total, min(values), max(values), last_ms, samples[last_ms])


def merge(a: Aggregate, b: Aggregate) -> Aggregate:
    """Both aggregates' samples together (they must not share samples)."""
    last_ms, last = max((a.last_ms, a.last), (b.last_ms, b.last))
    return Aggregate(
        a.kind,
        a.count + b.count,
        a.total + b.total,
        min(a.low, b.low),
        max(a.high, b.high),
        last_ms,
        last,
    )


def figures(agg: Aggregate) -> tuple[float, ...]:
    """The values written, in the order of ``SUFFIXES[kind]``."""
    if agg.kind is Kind.GAUGE:
        return (float(agg.total) / agg.count, agg.low, agg.high, float(agg.count))
    return (agg.last, float(agg.count))


def rollup_documents(
    labels: Mapping[str, str], agg: Aggregate, bucket_ms: int, width_ms: int
) -> list[dict[str, Any]]:
    """Import documents for one series' bucket; ``labels`` include ``__name__``."""
    name = labels.get("__name__", "")
    ts = [revision_ts(bucket_ms, width_ms, agg.count)]
    return [
        {"metric": {**labels, "__name__": name + suffix}, "values": [value], "timestamps": ts}
        for suffix, value in zip(SUFFIXES[agg.kind], figures(agg), strict=True)
    ]


def import_body(documents: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(doc) + b"\n" for doc in documents)


def revision_ts(bucket_ms: int, width_ms: int, count: int) -> int:
    return bucket_ms + min(count, width_ms - 1)


def parse_export(
    body: bytes, start_ms: int, end_ms: int
) -> dict[tuple[tuple[str, str], ...], dict[int, float]]:
    """Raw samples by series from ``/api/v1/export`` lines, keeping ``start <= ts < end``.

    A series can come in several lines; a timestamp seen twice keeps one value.
    """
    out: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        doc = orjson.loads(line)
        key = tuple(sorted(doc["metric"].items()))
        samples = out.setdefault(key, {})
        for ts, value in zip(doc["timestamps"], doc["values"], strict=True):
            if start_ms <= ts < end_ms and value is not None:
                samples[int(ts)] = float(value)
    return out


def rollup_bucket(
    raw: dict[tuple[tuple[str, str], ...], dict[int, float]], bucket_ms: int, width_ms: int
) -> BucketRollup:
    documents: list[dict[str, Any]] = []
    total = 0
    series = 0
    for key, samples in sorted(raw.items()):
        labels = dict(key)
        spec = CATALOGUE.get(labels.get("__name__", ""))
        if spec is None or not samples:
            continue
        agg = aggregate(spec.kind, samples)
        documents.extend(rollup_documents(labels, agg, bucket_ms, width_ms))
        series += 1
        total += agg.count
    return BucketRollup(import_body(documents), series, total)
