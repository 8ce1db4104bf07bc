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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import orjson

from shared.catalogue import CATALOGUE, Kind

SUFFIXES: Final = {Kind.GAUGE: ("", ":min", ":max", ":count"), Kind.COUNTER: ("", ":count")}


@dataclass(frozen=True, slots=True)
class BucketRollup:
    """Import lines for one bucket of a rollup tier."""

    body: bytes
    series: int  # raw series rolled up
    samples: int  # raw samples they held


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
        name = labels.get("__name__", "")
        spec = CATALOGUE.get(name)
        if spec is None or not samples:
            continue
        count = len(samples)
        ts = [revision_ts(bucket_ms, width_ms, count)]
        if spec.kind is Kind.GAUGE:
            values = list(samples.values())
            figures: tuple[float, ...] = (
                math.fsum(values) / count,
                min(values),
                max(values),
                float(count),
            )
        else:
            figures = (samples[max(samples)], float(count))
        for suffix, value in zip(SUFFIXES[spec.kind], figures, strict=True):
            documents.append(
                {
                    "metric": {**labels, "__name__": name + suffix},
                    "values": [value],
                    "timestamps": ts,
                }
            )
        series += 1
        total += count
    body = b"".join(orjson.dumps(doc) + b"\n" for doc in documents)
    return BucketRollup(body, series, total)
