"""Debugging endpoints: ``GET /api/v1/debug/stalls`` (the stall watch's report, with
``server.stall_watch_ms`` set) and ``GET /api/v1/debug/memory`` (where the Python heap goes,
when the collector runs with ``PYTHONTRACEMALLOC`` set)."""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

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


@router.get("/api/v1/debug/memory", summary="The Python heap by the line that allocated it")
async def memory(
    top: int = Query(30, ge=1, le=1000, description="how many lines to list"),
) -> Response:
    """The heap's total and the ``top`` source lines holding the most of it, from a
    tracemalloc snapshot (each frame of the traceback when ``PYTHONTRACEMALLOC`` is above 1).
    404 unless the collector runs with ``PYTHONTRACEMALLOC`` set. Taking the snapshot holds
    the interpreter for a second or more on a big heap: for benchmarks and investigations."""
    if not tracemalloc.is_tracing():
        raise ApiError(404, "not_found", "tracemalloc is off (start with PYTHONTRACEMALLOC=1)")
    return json_response(await asyncio.to_thread(_heap, top))


def _heap(top: int) -> dict[str, Any]:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    stats = snapshot.statistics("traceback")
    return {
        "total_bytes": sum(s.size for s in stats),
        "blocks": sum(s.count for s in stats),
        "top": [
            {
                "bytes": s.size,
                "blocks": s.count,
                "where": [f"{f.filename}:{f.lineno}" for f in s.traceback],
            }
            for s in stats[:top]
        ],
    }
