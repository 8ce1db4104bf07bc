"""Expected, lost and duplicated samples, per tier, from what the stores return.

The agent takes one sample of ``node_load1``, ``node_load5`` and ``node_load15`` per tick, at
tick times on the interval's grid, so the expected raw samples of an agent are those three
series at every tick in the experiment's window, less the ticks the agent itself did not
take (the ones it was not running for, and those it reports skipped under
``hostvitals_agent_ticks_skipped_total`` and ``hostvitals_agent_sampler_missed_total``).

- Raw tier (no deduplication): a tick missing from a series is lost; a timestamp stored more
  than once is duplicated.
- Rollup tiers: each complete bucket of a series has a ``:count`` sample (the raw samples the
  rollup was computed from). Fewer than the expected ticks in the bucket are lost, more are
  duplicated (a raw sample counted twice).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from hostvitals.chaos.stack import Store

SERIES: Final = ("node_load1", "node_load5", "node_load15")


@dataclass(frozen=True)
class Window:
    """The ticks (ms) an agent is expected to have delivered."""

    host: str
    ticks: frozenset[int]
    skipped: int  # ticks the agent reports it did not take, inside the window


@dataclass
class TierCount:
    expected: int = 0
    lost: int = 0
    duplicated: int = 0

    def add(self, other: TierCount) -> None:
        self.expected += other.expected
        self.lost += other.lost
        self.duplicated += other.duplicated


def _series(docs: Iterable[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}
    for doc in docs:
        name = str(doc["metric"]["__name__"])
        out[name] = ([int(t) for t in doc["timestamps"]], [float(v) for v in doc["values"]])
    return out


def raw_timestamps(raw: Store, host: str, metric: str = "node_load1") -> list[int]:
    docs = raw.export(f'{metric}{{host="{host}"}}')
    return sorted(ts for doc in docs for ts in doc["timestamps"])


def counter_growth(raw: Store, selector: str, start_ms: int, end_ms: int) -> float:
    """How much the counters ``selector`` grew within ``start_ms .. end_ms`` (restarts
    included)."""
    total = 0.0
    for doc in raw.export(selector):
        previous: float | None = None
        for ts, value in sorted(zip(doc["timestamps"], doc["values"], strict=True)):
            if not start_ms <= ts <= end_ms:
                continue
            value = float(value)
            if previous is not None:
                total += value - previous if value >= previous else value
            previous = value
    return total


def raw_count(raw: Store, window: Window) -> TierCount:
    got = _series(raw.export(f'{{__name__=~"node_load(1|5|15)",host="{window.host}"}}'))
    count = TierCount()
    for name in SERIES:
        stamps = got.get(name, ([], []))[0]
        inside = Counter(ts for ts in stamps if ts in window.ticks)
        count.expected += len(window.ticks)
        missing = len(window.ticks - inside.keys())
        count.lost += max(0, missing - window.skipped)
        count.duplicated += sum(n - 1 for n in inside.values())
    count.expected -= window.skipped * len(SERIES)
    return count


def complete_buckets(window: Window, width_ms: int, interval_ms: int) -> dict[int, int]:
    """Buckets wholly inside the window's span, and the window's ticks in each."""
    if not window.ticks:
        return {}
    first, last = min(window.ticks), max(window.ticks)
    buckets: Counter[int] = Counter(ts // width_ms * width_ms for ts in window.ticks)
    return {b: n for b, n in buckets.items() if b >= first and b + width_ms - interval_ms <= last}


def raw_stamps(raw: Store, window: Window) -> dict[str, set[int]]:
    got = _series(raw.export(f'{{__name__=~"node_load(1|5|15)",host="{window.host}"}}'))
    return {name: set(got.get(name, ([], []))[0]) for name in SERIES}


def rollup_count(
    tier: Store, window: Window, interval_ms: int, raw: dict[str, set[int]]
) -> TierCount:
    """Rollup samples of complete buckets against the window's ticks; a tick the raw tier
    lacks counts against the tier only beyond the ticks the agent reports it skipped."""
    width = tier.resolution_s * 1000
    expected = complete_buckets(window, width, interval_ms)
    got = _series(tier.export(f'{{__name__=~"node_load(1|5|15):count",host="{window.host}"}}'))
    count = TierCount()
    for name in SERIES:
        stamps, values = got.get(f"{name}:count", ([], []))
        latest: dict[int, tuple[int, float]] = {}
        for ts, value in zip(stamps, values, strict=True):
            bucket = ts // width * width
            if bucket not in latest or ts > latest[bucket][0]:
                latest[bucket] = (ts, value)
        budget = window.skipped
        for bucket, ticks in sorted(expected.items()):
            in_raw = sum(
                1 for ts in raw[name] if bucket <= ts < bucket + width and ts in window.ticks
            )
            allowance = min(ticks - in_raw, budget)
            budget -= allowance
            seen = int(latest[bucket][1]) if bucket in latest else 0
            count.expected += ticks - allowance
            count.lost += max(0, ticks - allowance - seen)
            count.duplicated += max(0, seen - (ticks - allowance))
    return count
