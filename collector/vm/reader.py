"""Read from VictoriaMetrics over its Prometheus-compatible HTTP API.

Range and instant queries come back parsed (:class:`RangeSeries`, :class:`InstantSample`);
:meth:`VictoriaMetricsReader.forward` passes any other request through as it is. The reader is
called from FastAPI's worker threads and the alert engine at once: every call goes through a
thread-safe :class:`~hostvitals.collector.vm.transport.Transport`, and failures raise from
:mod:`hostvitals.collector.vm.errors`. Every path goes under the tier's read base: the single
node's URL, or ``<select_url>/select/<tenant>/prometheus`` of a cluster
(:mod:`hostvitals.collector.vm.endpoints`). Calls made for a client's query pass
:class:`~hostvitals.collector.vm.answers.AnswerLimits`: an answer over them raises
:class:`~hostvitals.collector.vm.errors.AnswerRefused`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import orjson

from hostvitals.collector.tracing import span
from hostvitals.collector.vm.answers import AnswerLimits, check_answer
from hostvitals.collector.vm.endpoints import Endpoints
from hostvitals.collector.vm.errors import AnswerRefused, BackendMalformed, error_for_status
from hostvitals.collector.vm.rangejson import JsonSeries, points_json
from hostvitals.collector.vm.transport import Request, RequestsTransport, Response, Transport

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_MAX_ERROR_TEXT = 2000

_RangeKey = tuple[str, str, float, float, float, AnswerLimits | None]
"""A range query in flight: the form of its result, query, start, end, step and the limits
of its answer."""
T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One series of a range query: its labels (``__name__`` included when VM keeps it)."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True, slots=True)
class InstantSample:
    """One series of an instant query, or the value of a scalar result (no labels)."""

    labels: dict[str, str]
    timestamp: float
    value: float


class VictoriaMetricsReader:
    """Range and instant queries, and a raw pass-through, against one VictoriaMetrics.

    ``endpoints`` (or the URL of a single node) give the read base. ``transport`` is a new
    :class:`RequestsTransport` unless given one (e.g. the one the client of the same
    VictoriaMetrics uses).
    """

    def __init__(
        self, endpoints: Endpoints | str, timeout_s: float, transport: Transport | None = None
    ) -> None:
        base_url = Endpoints.of(endpoints).read
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"VictoriaMetrics URL must be http(s)://host[:port], not {base_url!r}")
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout_s!r}")
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.transport = transport if transport is not None else RequestsTransport()
        # Range queries being sent right now, by (query, start, end, step): an identical call
        # meanwhile waits for that answer instead of sending the query again.
        self._inflight: dict[_RangeKey, Future[Any]] = {}
        self._inflight_lock = threading.Lock()

    def close(self) -> None:
        """Let the transport's idle connections go."""
        self.transport.close()

    # -- HTTP ----------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        data: bytes | dict[str, str] | None = None,
        timeout_s: float | None = None,
        limits: AnswerLimits | None = None,
    ) -> Response:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', not {path!r}")
        headers = {"Content-Type": FORM_CONTENT_TYPE} if isinstance(data, bytes) else {}
        timeout = self.timeout_s if timeout_s is None else timeout_s
        body_limit = limits.body_limit(path) if limits is not None else None
        request = Request(
            method, self.base_url, path, timeout, params or (), data, headers, body_limit
        )
        with span("vm.query", {"http.request.method": method, "url.path": path}):
            return self.transport.send(request)

    def _data(self, path: str, form: dict[str, str], limits: AnswerLimits | None = None) -> Any:
        """POST a form to a JSON API path and return the ``data`` member of a success."""
        response = self._send("POST", path, data=form, limits=limits)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if response.status != 200:
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                message = body["error"]
            else:
                message = response.text[:_MAX_ERROR_TEXT] or response.reason or "no error text"
            raise error_for_status(response.status, message, url=self.base_url)
        if not (isinstance(body, dict) and body.get("status") == "success" and "data" in body):
            raise BackendMalformed(
                f"VictoriaMetrics at {self.base_url} sent an unexpected answer", url=self.base_url
            )
        return body["data"]

    def _malformed(self, what: str) -> BackendMalformed:
        return BackendMalformed(
            f"VictoriaMetrics at {self.base_url} sent a malformed {what}", url=self.base_url
        )

    # -- queries -------------------------------------------------------------------------------

    def query_range(
        self,
        query: str,
        start: float,
        end: float,
        step: float,
        limits: AnswerLimits | None = None,
    ) -> list[RangeSeries]:
        """Evaluate ``query`` over a range. Points that are NaN or infinite are left out.

        Identical calls (same query, start, end, step and limits) made while one is being
        answered share that answer, or its error: a dashboard open on many screens costs one
        query. The result is shared, so callers must not modify it. With ``limits``, an answer
        over them raises AnswerRefused.
        """
        return self._shared("points", query, start, end, step, limits, self._query_range)

    def query_range_json(
        self,
        query: str,
        start: float,
        end: float,
        step: float,
        limits: AnswerLimits | None = None,
    ) -> list[JsonSeries]:
        """As :meth:`query_range`, with each series' points as a JSON array of ``[time,
        value]`` (:mod:`~hostvitals.collector.vm.rangejson`), for answers that only pass the
        points on."""
        return self._shared("json", query, start, end, step, limits, self._query_range_json)

    def _shared(
        self,
        form: str,
        query: str,
        start: float,
        end: float,
        step: float,
        limits: AnswerLimits | None,
        send: Callable[[str, float, float, float, AnswerLimits | None], T],
    ) -> T:
        key = (form, query, start, end, step, limits)
        with self._inflight_lock:
            pending = self._inflight.get(key)
            if pending is None:
                mine: Future[Any] = Future()
                self._inflight[key] = mine
        if pending is not None:
            return cast(T, pending.result())
        try:
            result = send(query, start, end, step, limits)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(result)
            return result
        finally:
            with self._inflight_lock:
                del self._inflight[key]

    def _matrix(
        self, query: str, start: float, end: float, step: float, limits: AnswerLimits | None
    ) -> list[Any]:
        data = self._data(
            "/api/v1/query_range",
            {"query": query, "start": repr(start), "end": repr(end), "step": repr(step)},
            limits,
        )
        try:
            if data["resultType"] != "matrix":
                raise self._malformed(f"range result of type {data['resultType']!r}")
            result = data["result"]
            if not isinstance(result, list):
                raise TypeError("result is not a list")
        except (KeyError, TypeError) as exc:
            raise self._malformed(f"range result ({exc!r})") from None
        if limits is not None and len(result) > limits.max_series:
            raise AnswerRefused("too_many_series", limits.max_series, found=len(result))
        return result

    def _query_range(
        self, query: str, start: float, end: float, step: float, limits: AnswerLimits | None
    ) -> list[RangeSeries]:
        return self._range_series(
            query,
            start,
            end,
            step,
            limits,
            lambda labels, values: RangeSeries(labels=labels, points=range_points(values)),
        )

    def _query_range_json(
        self, query: str, start: float, end: float, step: float, limits: AnswerLimits | None
    ) -> list[JsonSeries]:
        return self._range_series(
            query,
            start,
            end,
            step,
            limits,
            lambda labels, values: JsonSeries(
                labels=labels, points_json=points_json(values, range_points)
            ),
        )

    def _range_series(
        self,
        query: str,
        start: float,
        end: float,
        step: float,
        limits: AnswerLimits | None,
        make: Callable[[dict[str, str], Any], S],
    ) -> list[S]:
        """Each series of a range answer, built by ``make(labels, values)``."""
        result = self._matrix(query, start, end, step, limits)
        try:
            return [
                make({str(k): str(v) for k, v in item["metric"].items()}, item["values"])
                for item in result
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(f"range result ({exc!r})") from None

    def query(self, query: str, time: float | None = None) -> list[InstantSample]:
        """Evaluate ``query`` at ``time`` (now when None). NaN and infinite values are left out."""
        form = {"query": query}
        if time is not None:
            form["time"] = repr(time)
        data = self._data("/api/v1/query", form)
        try:
            kind = data["resultType"]
            if kind == "vector":
                items = [(item["metric"], item["value"]) for item in data["result"]]
            elif kind == "scalar":
                items = [({}, data["result"])]
            else:
                raise self._malformed(f"instant result of type {kind!r}")
            samples = [
                InstantSample(
                    labels={str(k): str(v) for k, v in labels.items()},
                    timestamp=float(pair[0]),
                    value=float(pair[1]),
                )
                for labels, pair in items
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(f"instant result ({exc!r})") from None
        return [s for s in samples if math.isfinite(s.value)]

    def forward(
        self,
        path: str,
        params: list[tuple[str, str]],
        method: str = "GET",
        form: bytes | None = None,
        timeout_s: float | None = None,
        limits: AnswerLimits | None = None,
    ) -> tuple[int, bytes, str]:
        """Send a request through unchanged: (status, body, content type) of VM's answer.

        ``params`` keep their order and repeated keys (``match[]``); ``form`` is an
        ``application/x-www-form-urlencoded`` body, sent as is. ``timeout_s`` replaces the
        reader's timeout for this request. With ``limits``, an answer over them raises
        AnswerRefused, and a success that is not well-formed raises BackendMalformed
        (:func:`~hostvitals.collector.vm.answers.check_answer`).
        """
        if method not in ("GET", "POST"):
            raise ValueError(f"method must be GET or POST, not {method!r}")
        response = self._send(
            method, path, params=params, data=form, timeout_s=timeout_s, limits=limits
        )
        if limits is not None and response.status == 200:
            check_answer(path, response.content, limits, self.base_url)
        content_type = response.content_type
        return response.status, response.content, content_type or "application/json"


def range_points(values: list[list[Any]]) -> list[tuple[float, float]]:
    """VictoriaMetrics' ``[[time, "value"], ...]`` as ``(time, value)`` floats, leaving out
    values that are NaN or infinite. Raises ValueError or TypeError on a malformed point.

    A long range answer is tens of thousands of points, and converting each value's text
    with ``float()`` was most of its decoding. The texts are JSON numbers (Go's shortest
    float format) except NaN and the infinities, so the column of texts is joined and parsed
    by orjson in one call; a column holding anything else takes the point-by-point way,
    which also says what is malformed.
    """
    if not values:
        return []
    try:
        times, texts = zip(*values, strict=True)
        joined = ",".join(texts)
        if "n" not in joined and "N" not in joined:  # no NaN, Inf or +Inf
            numbers = list(map(float, orjson.loads(f"[{joined}]")))
            points = list(zip(map(float, times), numbers, strict=True))
            if math.isfinite(sum(numbers)):  # as an overflow to infinity from orjson shows
                return points
    except (TypeError, ValueError):
        pass
    return _point_by_point(values)


def _point_by_point(values: list[list[Any]]) -> list[tuple[float, float]]:
    points = [(float(t), float(v)) for t, v in values]
    return [p for p in points if math.isfinite(p[1])]
