"""Prometheus-compatible HTTP API, passed through to VictoriaMetrics.

Grafana, vmalert and promtool can use the collector as a Prometheus data source. Requests to
``query``, ``query_range``, ``series``, ``labels``, ``label/<name>/values`` and ``metadata``
go to VictoriaMetrics unchanged, GET or POST (form-encoded), with repeated keys such as
``match[]`` kept in order; VictoriaMetrics' status and JSON body come back as they are.
When VictoriaMetrics cannot be reached the answer is a Prometheus-style 503 error.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from collector.api.query import backend_error, json_response
from collector.errors import ApiError
from collector.reader import FORM_CONTENT_TYPE, BackendError, VictoriaMetricsReader

router = APIRouter(prefix="/api/v1", tags=["prometheus"])

MAX_FORM_BYTES = 1 << 20
"""Largest POST body accepted: queries and match[] lists, not data."""

PROMETHEUS_API_VERSION = "2.24.0"
"""The Prometheus API version VictoriaMetrics emulates (newer releases report it as theirs)."""


async def _form(request: Request) -> bytes:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("", FORM_CONTENT_TYPE):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"POST bodies must be {FORM_CONTENT_TYPE}, not {media_type}",
        )
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
    form = await _form(request) if request.method == "POST" else None
    params = request.query_params.multi_items()
    try:
        status, body, content_type = await run_in_threadpool(
            reader.forward, path, params, request.method, form
        )
    except BackendError as exc:
        raise backend_error(exc) from None
    return Response(body, status_code=status, media_type=content_type)


@router.api_route("/query", methods=["GET", "POST"])
async def prom_query(request: Request) -> Response:
    """Instant query (Prometheus ``/api/v1/query``)."""
    return await _forward(request, "/api/v1/query")


@router.api_route("/query_range", methods=["GET", "POST"])
async def prom_query_range(request: Request) -> Response:
    """Range query (Prometheus ``/api/v1/query_range``)."""
    return await _forward(request, "/api/v1/query_range")


@router.api_route("/series", methods=["GET", "POST"])
async def prom_series(request: Request) -> Response:
    """Series matching ``match[]`` (Prometheus ``/api/v1/series``)."""
    return await _forward(request, "/api/v1/series")


@router.api_route("/labels", methods=["GET", "POST"])
async def prom_labels(request: Request) -> Response:
    """Label names (Prometheus ``/api/v1/labels``)."""
    return await _forward(request, "/api/v1/labels")


@router.api_route("/label/{name}/values", methods=["GET", "POST"])
async def prom_label_values(request: Request, name: str) -> Response:
    """Values of one label (Prometheus ``/api/v1/label/<name>/values``)."""
    return await _forward(request, f"/api/v1/label/{quote(name, safe='')}/values")


@router.api_route("/metadata", methods=["GET", "POST"])
async def prom_metadata(request: Request) -> Response:
    """Metric metadata (Prometheus ``/api/v1/metadata``); Grafana's query editor asks for it."""
    return await _forward(request, "/api/v1/metadata")


@router.get("/status/buildinfo")
def prom_build_info() -> Response:
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
