"""Prometheus-compatible HTTP API, passed through to VictoriaMetrics.

Grafana, vmalert and promtool can use the collector as a Prometheus data source. Requests to
``query``, ``query_range``, ``series``, ``labels``, ``label/<name>/values`` and ``metadata``
go to VictoriaMetrics unchanged, GET or POST (parameters in the URL, in a form body, or both;
a body of any other type is ignored, as Prometheus does), with repeated keys such as
``match[]`` kept in order; VictoriaMetrics' status and JSON body come back as they are.
When VictoriaMetrics cannot be reached the answer is a Prometheus-style 503 error. Range
queries are answered from the query cache when an identical one was answered within
``query.cache_ttl_s`` (``nocache=1`` skips it and is passed on, as VictoriaMetrics knows it).

The query guards apply (:mod:`.guards`): an answer with more than ``query.max_series`` series
(label names or values for ``labels`` and ``label/<name>/values``) or ``query.max_response_bytes``
bytes is answered 422, and a success that is not well-formed JSON of its path's shape 502.
``series``, ``labels`` and ``label/<name>/values`` are sent with a ``limit`` of one past the
cap (or the client's own, when lower), which VictoriaMetrics 1.79.5 honours; ``query`` and
``query_range`` take no such limit there, so their series are counted as the answer comes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from hostvitals.collector.api.guards import (
    answer_limits,
    capped_limit,
    capped_timeout,
    check_points,
    count_rejected,
    query_turn,
    refused_answer,
)
from hostvitals.collector.api.responses import backend_error, json_response
from hostvitals.collector.config.limits import QuerySettings
from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.cache import Answer, QueryCache
from hostvitals.collector.vm.answers import takes_limit
from hostvitals.collector.vm.errors import AnswerRefused, BackendError
from hostvitals.collector.vm.reader import FORM_CONTENT_TYPE, VictoriaMetricsReader

router = APIRouter(prefix="/api/v1", tags=["prometheus"])

MAX_FORM_BYTES = 1 << 20
"""Largest POST body accepted: queries and match[] lists, not data."""

CACHED_PATH = "/api/v1/query_range"
"""Answers of this path go through the query cache (``nocache=1`` skips it, as in VM)."""

TIMEOUT_GRACE_S = 2.0
"""Seconds past a query's own timeout the collector waits for VictoriaMetrics' answer."""

PROMETHEUS_API_VERSION = "2.24.0"
"""The Prometheus API version VictoriaMetrics emulates (newer releases report it as theirs)."""


async def _form(request: Request) -> bytes | None:
    """The form body of a POST, or None when the body is not a form.

    As in Prometheus and VictoriaMetrics (Go's ``ParseForm``), only an
    ``application/x-www-form-urlencoded`` body holds parameters; any other body (vmalert posts
    with the query in the URL and a JSON content type) is ignored, unread.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        return None
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise ApiError(413, "too_large", f"form body larger than {MAX_FORM_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ApiError(413, "too_large", f"form body larger than {MAX_FORM_BYTES} bytes")
    return bytes(body)


async def _forward(request: Request, path: str) -> Response:
    reader: VictoriaMetricsReader = request.app.state.reader
    limits: QuerySettings = request.app.state.settings.query
    form = await _form(request) if request.method == "POST" else None
    # The server caps how long VictoriaMetrics works on a query; a client may only ask less.
    params, form, timeout_s = capped_timeout(
        request.query_params.multi_items(), form, limits.max_duration_s
    )
    params.append(("timeout", f"{timeout_s:g}s"))
    bounds = answer_limits(request)
    if takes_limit(path):  # VictoriaMetrics stops one item past the cap by itself
        params, form = capped_limit(params, form, bounds.max_series)
    fields = params + (parse_qsl(form.decode("latin-1")) if form else [])
    if path == CACHED_PATH:
        try:
            check_points(fields, limits.max_query_points)
        except ApiError:
            count_rejected(request, "too_many_points")
            raise

    async def send() -> Answer:
        async with query_turn(request):
            try:
                status, body, content_type = await run_in_threadpool(
                    reader.forward,
                    path,
                    params,
                    request.method,
                    form,
                    timeout_s + TIMEOUT_GRACE_S,
                    bounds,
                )
            except BackendError as exc:
                raise backend_error(exc) from None
        return Answer(status, body, content_type)

    try:
        if path == CACHED_PATH:
            # Range queries name their whole window, so identical ones may share an answer.
            cache: QueryCache = request.app.state.query_cache
            key = ("prom", tuple(sorted(fields)))
            answer = await cache.get(key, send, bypass=("nocache", "1") in fields)
        else:
            answer = await send()
    except AnswerRefused as exc:
        raise refused_answer(request, exc) from None
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


_Param = tuple[str, bool, str]
"""A forwarded query parameter: name, required, description."""


def _openapi(params: tuple[_Param, ...]) -> dict[str, Any]:
    """OpenAPI text for query parameters that are forwarded rather than parsed here."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": required,
                "schema": {"type": "string"},
                "description": description,
            }
            for name, required, description in params
        ]
    }


@dataclass(frozen=True, slots=True)
class _PassThrough:
    path: str
    operation: str
    summary: str
    params: tuple[_Param, ...]


_TIME = ("time", False, "Evaluation time: Unix seconds or RFC 3339; default now.")
_START = ("start", False, "Range start: Unix seconds or RFC 3339.")
_END = ("end", False, "Range end: Unix seconds or RFC 3339.")
_MATCH = ("match[]", False, "Series selector; repeat the parameter for several.")
_SERIES_PARAMS = (_MATCH, _START, _END)

PASS_THROUGH: tuple[_PassThrough, ...] = (
    _PassThrough(
        "/query",
        "prom_query",
        "Instant query (Prometheus /api/v1/query)",
        (("query", True, "PromQL/MetricsQL expression."), _TIME),
    ),
    _PassThrough(
        "/query_range",
        "prom_query_range",
        "Range query (Prometheus /api/v1/query_range)",
        (
            ("query", True, "PromQL/MetricsQL expression."),
            _START,
            _END,
            ("step", False, "Resolution: seconds or a duration such as 15s."),
        ),
    ),
    _PassThrough(
        "/series",
        "prom_series",
        "Series matching match[] (Prometheus /api/v1/series)",
        _SERIES_PARAMS,
    ),
    _PassThrough(
        "/labels",
        "prom_labels",
        "Label names (Prometheus /api/v1/labels)",
        _SERIES_PARAMS,
    ),
    _PassThrough(
        "/metadata",
        "prom_metadata",
        "Metric metadata (Prometheus /api/v1/metadata); Grafana's query editor asks for it",
        (("metric", False, "Only this metric."),),
    ),
)


def _endpoint(target: str) -> Callable[[Request], Awaitable[Response]]:
    async def forward(request: Request) -> Response:
        return await _forward(request, target)

    return forward


for _route in PASS_THROUGH:
    for _method in ("GET", "POST"):
        router.add_api_route(
            _route.path,
            _endpoint(f"/api/v1{_route.path}"),
            methods=[_method],
            operation_id=f"{_route.operation}_{_method.lower()}",
            summary=_route.summary,
            openapi_extra=_openapi(_route.params),
        )


async def prom_label_values(request: Request, name: str) -> Response:
    """Values of one label (Prometheus ``/api/v1/label/<name>/values``)."""
    return await _forward(request, f"/api/v1/label/{quote(name, safe='')}/values")


for _method in ("GET", "POST"):
    router.add_api_route(
        "/label/{name}/values",
        prom_label_values,
        methods=[_method],
        operation_id=f"prom_label_values_{_method.lower()}",
        summary="Values of one label (Prometheus /api/v1/label/<name>/values)",
        openapi_extra=_openapi(_SERIES_PARAMS),
    )


@router.get("/status/buildinfo")
async def prom_build_info() -> Response:
    """A Prometheus-like build info, so clients that probe it (Grafana) see a Prometheus API."""
    return json_response(
        {
            "status": "success",
            "data": {
                "version": PROMETHEUS_API_VERSION,
                "revision": "hostvitals",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
        }
    )
