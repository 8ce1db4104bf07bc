"""A range series' points as JSON, ready to embed in an answer, without a Python object per
point: VictoriaMetrics' ``[[time, "value"], ...]`` becomes ``[[time, value], ...]``.

The history API answers tens of thousands of points per request, and building a tuple of two
floats per point, only for orjson to encode them again, was most of its CPU time. Here the
parsed ``values`` list is encoded back by orjson in one call and the quotes around the value
texts are dropped: the texts are JSON numbers (Go's shortest float format) except NaN and the
infinities. That holds only when the result has nothing but digits, signs, exponents,
points, commas and brackets, parses as JSON, and is one ``[time, value]`` pair of numbers per
point with finite sums of times and of values (an overflow to infinity shows there). Anything
else (NaN, infinities, a malformed point) takes the point-by-point way
(:func:`~hostvitals.collector.vm.reader.range_points`), which leaves the non-finite values
out and raises on a malformed point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final

import orjson

_NUMBER_BYTES: Final = b"0123456789.eE+-,[]"
_TIME: Final = itemgetter(0)
_VALUE: Final = itemgetter(1)


@dataclass(frozen=True, slots=True)
class JsonSeries:
    """One series of a range query with its points as a JSON array of ``[time, value]``."""

    labels: dict[str, str]
    points_json: bytes

    @property
    def empty(self) -> bool:
        return self.points_json == b"[]"


def points_json(
    values: list[list[Any]], decode: Callable[[list[list[Any]]], list[tuple[float, float]]]
) -> bytes:
    """``values`` as a JSON array of ``[time, value]`` numbers, non-finite values left out.

    ``decode`` is the point-by-point way (``range_points``), taken when the fast way does not
    hold; it raises ValueError or TypeError on a malformed point."""
    if not isinstance(values, list):
        raise TypeError(f"range values must be a list, not {type(values).__name__}")
    if not values:
        return b"[]"
    raw = orjson.dumps(values).replace(b'"', b"")
    if not raw.translate(None, _NUMBER_BYTES):
        try:
            pairs = orjson.loads(raw)
            if (
                len(pairs) == len(values)
                and set(map(len, pairs)) == {2}
                and math.isfinite(sum(map(_TIME, pairs)))
                and math.isfinite(sum(map(_VALUE, pairs)))
            ):
                return bytes(raw)
        except (orjson.JSONDecodeError, TypeError):
            pass  # malformed: the point-by-point way says how
    return orjson.dumps(decode(values))
