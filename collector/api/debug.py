"""``GET /api/v1/debug/stalls``: the stall watch's report (``server.stall_watch_ms``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from hostvitals.collector.api.responses import json_response
from hostvitals.collector.errors import ApiError
from hostvitals.collector.stallwatch import StallWatch

router = APIRouter(tags=["debug"])


@router.get("/api/v1/debug/stalls", summary="Event-loop stalls and garbage-collector pauses")
async def stalls(
    request: Request,
    since: float = Query(0.0, description="only stalls and pauses from this Unix time on"),
) -> Response:
    """Counts since the start (loop lags by size, collections by generation) and the kept
    stalls, with the loop's stack and the busy threads, and long GC pauses since ``since``.
    404 unless ``server.stall_watch_ms`` is set."""
    watch: StallWatch | None = request.app.state.stall_watch
    if watch is None:
        raise ApiError(404, "not_found", "the stall watch is off (server.stall_watch_ms is 0)")
    return json_response(watch.report(since))
