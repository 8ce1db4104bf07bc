"""How the collector's HTTP answers are made: JSON bodies, the mark naming the replica that
answered, and VictoriaMetrics failures as API errors."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.cluster import INSTANCE_HEADER, Cluster
from hostvitals.collector.vm.errors import BackendError, BackendUnavailable


def json_response(payload: object) -> Response:
    """``payload`` as JSON, encoded by orjson straight to bytes."""
    return Response(orjson.dumps(payload), media_type="application/json")


def mark(request: Request, response: Response) -> Response:
    """Say which replica answered: one that finds itself among its peers stops asking."""
    cluster: Cluster = request.app.state.cluster
    response.headers[INSTANCE_HEADER] = cluster.instance
    return response


def success(request: Request, data: Any) -> Response:
    """A marked success answer; orjson straight to bytes, as a host can have thousands of
    series."""
    return mark(request, json_response({"status": "success", "data": data}))


def backend_error(exc: BackendError) -> ApiError:
    """The answer for a VictoriaMetrics failure: 503 unreachable, 400 rejected query, 502 else."""
    if exc.status is not None:  # it answered, with an error status
        if 400 <= exc.status < 500:
            return ApiError(400, "bad_data", exc.message)
        if exc.status == 503:
            return ApiError(503, "unavailable", f"VictoriaMetrics is busy: {exc.message}")
        return ApiError(502, "bad_gateway", f"VictoriaMetrics failed: {exc.message}")
    if isinstance(exc, BackendUnavailable):
        return ApiError(503, "unavailable", exc.message)
    return ApiError(502, "bad_gateway", exc.message)
