"""One host's newest samples as columns: what the live view keeps per series, compactly.

A fleet's live view holds hundreds of thousands of series, updated a few hundred thousand
times a second, and the garbage collector must not have to walk them. A
:class:`SeriesTable` keeps one row per series: its key (:func:`~hostvitals.shared.protocol.
series_key`, a tuple of interned strings that gives the metric and labels back) in an index,
and its timestamp, value and rate in three lists, changed in place.

Why columns: the garbage collector follows every object that can hold references, and
counts allocations to decide when to collect. An object per series (a dataclass, a dict and
a frozenset, as before) made 1.5 million tracked objects for 2,000 hosts of 150 series, and
every full collection walked them for over 300 ms. A fresh tuple per update is untracked
after one collection, but replacing one frees the old tuple as the new one is allocated, so
the allocation count stands still while the young generation fills with new tuples: a
collection then found 350,000 young objects and took 160 ms. Lists of numbers changed in
place allocate nothing and are three objects per host.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Final

from hostvitals.shared.catalogue import CATALOGUE, Kind
from hostvitals.shared.protocol import SeriesKey, Value, interned

COUNTERS: Final = frozenset(name for name, spec in CATALOGUE.items() if spec.kind is Kind.COUNTER)

Row = tuple[str, dict[str, str], int, float | int, float | None]
"""metric, labels, timestamp (ms), value, rate (of a counter; None otherwise)."""


class SeriesTable:
    """The newest sample of each series of one host, with counter rates."""

    __slots__ = ("_index", "_rates", "_stamps", "_values")

    def __init__(self) -> None:
        self._index: dict[SeriesKey, int] = {}  # row of each series
        self._stamps: list[int] = []
        self._values: list[float | int] = []
        self._rates: list[float | None] = []

    def __len__(self) -> int:
        return len(self._index)

    def fold(self, key: SeriesKey, metric: str, values: list[Value], ticks: list[int]) -> None:
        """Take the newest present value of ``values`` (aligned with ``ticks``) unless the
        stored one is as new; a counter's rate comes from its two newest points."""
        newest, previous = last_two(values)
        if newest < 0:
            return
        ts = ticks[newest]
        value = values[newest]
        assert value is not None
        row = self._index.get(key)
        stamps = self._stamps
        if row is not None and stamps[row] >= ts:
            return  # an older or replayed frame: the stored value is newer
        rate: float | None = None
        if metric in COUNTERS:
            if previous >= 0:
                before = values[previous]
                assert before is not None
                rate = _rate(before, ticks[previous], value, ts)
            elif row is not None:
                rate = _rate(self._values[row], stamps[row], value, ts)
        if row is None:
            self._index[interned(key)] = len(stamps)
            stamps.append(ts)
            self._values.append(value)
            self._rates.append(rate)
        else:
            stamps[row] = ts
            self._values[row] = value
            self._rates[row] = rate

    def prune(self, cutoff_ms: int) -> None:
        """Drop the series whose newest sample is older than ``cutoff_ms``."""
        stamps = self._stamps
        if all(ts >= cutoff_ms for ts in stamps):
            return
        kept = [(key, row) for key, row in self._index.items() if stamps[row] >= cutoff_ms]
        values, rates = self._values, self._rates
        self._index = {key: n for n, (key, _) in enumerate(kept)}
        self._stamps = [stamps[row] for _, row in kept]
        self._values = [values[row] for _, row in kept]
        self._rates = [rates[row] for _, row in kept]

    def rows(self, metrics: Collection[str] | None = None) -> Iterator[Row]:
        """Every series, in the order they first arrived, with a fresh labels dict each;
        only those of ``metrics`` when it is given (the others cost a lookup each)."""
        stamps, values, rates = self._stamps, self._values, self._rates
        for key, row in self._index.items():
            if metrics is not None and key[0] not in metrics:
                continue
            labels = dict(zip(key[1::2], key[2::2], strict=True))
            yield key[0], labels, stamps[row], values[row], rates[row]


def last_two(values: list[Value]) -> tuple[int, int]:
    """Indexes of the newest and the second newest present value (-1 when absent)."""
    newest = -1
    for i in range(len(values) - 1, -1, -1):
        if values[i] is not None:
            if newest < 0:
                newest = i
            else:
                return newest, i
    return newest, -1


def _rate(v0: float | int, t0_ms: int, v1: float | int, t1_ms: int) -> float | None:
    dt = (t1_ms - t0_ms) / 1000.0
    if dt <= 0:
        return None
    # A counter that went down was reset: it counted v1 since then.
    increase = v1 - v0 if v1 >= v0 else v1
    return increase / dt
