"""Fleet API: every host with its status, headline numbers and agent health, and their history.

``GET /api/v1/fleet`` answers from the live view. ``GET /api/v1/fleet/history`` answers
``cpu_usage_ratio``, ``memory_used_ratio``, ``filesystem_max_used_ratio`` and
``network_bytes_per_second`` per host over a range, in the shape of the history API
(``series`` of ``name``, ``labels`` and ``points``); the dashboard draws its sparklines from it.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from collector.api.query import QueryLimits, backend_error, json_response
from collector.current import CurrentStore
from collector.errors import ApiError
from collector.fleet import fleet_queries, fleet_row
from collector.reader import BackendError, VictoriaMetricsReader
from collector.timeparse import TimeRangeError, parse_range

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/fleet", summary="Every host: status, headline numbers and agent health")
async def fleet(
    request: Request,
    status: Literal["up", "stale", "down"] | None = Query(None, description="only these hosts"),
) -> Response:
    store: CurrentStore = request.app.state.current
    now = time.time()
    rows = [fleet_row(s) for s in store.hosts(now) if status is None or s.status == status]
    return json_response({"status": "success", "data": {"now": now, "hosts": rows}})


@router.get("/fleet/history", summary="Headline numbers of every host over a time range")
def fleet_history(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
) -> Response:
    """``start``/``end``: Unix seconds or RFC 3339 (default: the last ``query.default_range_s``);
    ``step``: seconds or a duration such as ``15s`` (default: about ``query.default_points``)."""
    limits: QueryLimits = request.app.state.settings.query
    try:
        span = parse_range(
            start,
            end,
            step,
            now=time.time(),
            default_range_s=limits.default_range_s,
            default_points=limits.default_points,
            max_points=limits.max_points,
        )
    except TimeRangeError as exc:
        raise ApiError(400, "bad_data", str(exc)) from None
    reader: VictoriaMetricsReader = request.app.state.reader
    series: list[dict[str, object]] = []
    try:
        for named in fleet_queries(span.step):
            found = reader.query_range(named.expr, span.start, span.end, span.step)
            for one in sorted(found, key=lambda s: sorted(s.labels.items())):
                if one.points:
                    labels = {k: v for k, v in one.labels.items() if k != "__name__"}
                    series.append({"name": named.name, "labels": labels, "points": one.points})
    except BackendError as exc:
        raise backend_error(exc) from None
    return json_response(
        {
            "status": "success",
            "data": {"start": span.start, "end": span.end, "step": span.step, "series": series},
        }
    )
