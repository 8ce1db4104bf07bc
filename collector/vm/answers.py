"""Bounds on the answers clients' queries get from VictoriaMetrics: how many series (or label
names or values) and how many bytes one answer may hold.

A query over the whole fleet can return hundreds of thousands of series, and
VictoriaMetrics' own ``-search.maxUniqueTimeseries`` belongs to whoever runs it, so the
collector counts for itself. The body is read in chunks (:class:`~.transport.BodyLimit`):
past ``max_bytes`` the reading stops, and for ``query`` and ``query_range`` a
:class:`SeriesScan` counts the series of each chunk as it comes and stops the reading once
there are more than ``max_series``. The whole body is then parsed once, without building
the points (:func:`check_answer`): that says whether it is well-formed JSON of the expected
shape, and the exact count. The answer itself goes on as VictoriaMetrics sent it.

All of it runs in the worker thread that reads the answer, not on the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

from hostvitals.collector.vm.errors import AnswerRefused, BackendMalformed
from hostvitals.collector.vm.transport import BodyLimit

RESULT_PATHS: Final = frozenset({"/api/v1/query", "/api/v1/query_range"})
"""Paths whose answer is ``data.resultType`` and ``data.result``, one item per series."""

SERIES_MARK: Final = b'"metric":{'
"""The key that opens each series of a vector or matrix result. In a well-formed answer these
bytes can be nothing else: a quote inside a string is escaped, so they cannot occur inside a
label name or value, and no other member of VictoriaMetrics' (or Prometheus') answer is an
object under the key ``metric``."""


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    """The most series (or label names or values) and bytes one answer may hold."""

    max_series: int
    max_bytes: int

    def body_limit(self, path: str) -> BodyLimit:
        """How the answer to ``path`` is read: a series count as it comes for queries."""
        watch = SeriesScan(self.max_series) if path in RESULT_PATHS else None
        return BodyLimit(self.max_bytes, watch)


class SeriesScan:
    """Counts the series of a query's answer chunk by chunk (:data:`SERIES_MARK`, also where
    it straddles two chunks); raises AnswerRefused once there are more than ``max_series``.

    It never counts more than the answer holds, so it never refuses one that the whole count
    would let through; an answer written with spaces (``"metric": {``) is not counted here,
    only by :func:`check_answer`.
    """

    __slots__ = ("_tail", "count", "max_series")

    def __init__(self, max_series: int) -> None:
        self.max_series = max_series
        self.count = 0
        self._tail = b""

    def __call__(self, chunk: bytes) -> None:
        keep = len(SERIES_MARK) - 1
        # The marks inside the chunk, and one that began in the previous chunk's last bytes
        # (the seam holds too few of this chunk's bytes for a mark that begins in it).
        seam = self._tail + chunk[:keep]
        self.count += seam.count(SERIES_MARK) + chunk.count(SERIES_MARK)
        self._tail = seam[-keep:] if len(chunk) < keep else chunk[-keep:]
        if self.count > self.max_series:
            raise AnswerRefused("too_many_series", self.max_series)


class _Result(msgspec.Struct):
    resultType: str  # VictoriaMetrics' name for it
    result: list[msgspec.Raw]


class _QueryAnswer(msgspec.Struct):
    status: str
    data: _Result


class _ListAnswer(msgspec.Struct):
    status: str
    data: list[msgspec.Raw]


_QUERY_DECODER: Final = msgspec.json.Decoder(_QueryAnswer)
_LIST_DECODER: Final = msgspec.json.Decoder(_ListAnswer)


def counted_as(path: str) -> str | None:
    """What the items of the answer to ``path`` are (``series``, ``label names``, ``label
    values``), or None for a path whose answer is not counted (``metadata``)."""
    if path in RESULT_PATHS or path == "/api/v1/series":
        return "series"
    if path == "/api/v1/labels":
        return "label names"
    if path.startswith("/api/v1/label/") and path.endswith("/values"):
        return "label values"
    return None


def takes_limit(path: str) -> bool:
    """Whether VictoriaMetrics stops the answer to ``path`` at a ``limit`` of items
    (``series``, ``labels``, ``label/<name>/values``; 1.79.5 does; ``labels`` with a
    ``match[]`` may add ``__name__`` beyond it)."""
    return path not in RESULT_PATHS and counted_as(path) is not None


def count_items(path: str, body: bytes, url: str) -> int:
    """The series (or label names or values) in a success answer to ``path``: the items of
    ``data.result`` for a vector or matrix, 0 for a scalar or string result, the items of
    ``data`` for ``series``, ``labels`` and ``label/<name>/values``, 0 for other paths.

    Raises BackendMalformed when the body is not well-formed JSON of that shape.
    """
    what = counted_as(path)
    if what is None:
        return 0
    try:
        if path in RESULT_PATHS:
            data = _QUERY_DECODER.decode(body).data
            return len(data.result) if data.resultType in ("vector", "matrix") else 0
        return len(_LIST_DECODER.decode(body).data)
    except msgspec.DecodeError as exc:
        raise BackendMalformed(
            f"VictoriaMetrics at {url} sent a malformed answer to {path}: {exc}", url=url
        ) from None


def check_answer(path: str, body: bytes, limits: AnswerLimits, url: str) -> None:
    """Raise AnswerRefused when a success answer to ``path`` holds more than
    ``limits.max_series`` items, BackendMalformed when it is not what ``path`` answers."""
    what = counted_as(path)
    if what is None:
        return
    found = count_items(path, body, url)
    if found > limits.max_series:
        # A path asked with a ``limit`` was cut there: its count says only "more".
        whole = None if takes_limit(path) else found
        raise AnswerRefused("too_many_series", limits.max_series, what=what, found=whole)
