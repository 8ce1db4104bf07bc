"""Fleet API: every host with its status, headline numbers and agent health, and their history.

``GET /api/v1/fleet`` answers from the live view. ``GET /api/v1/fleet/history`` answers
``cpu_usage_ratio``, ``memory_used_ratio``, ``filesystem_max_used_ratio`` and
``network_bytes_per_second`` per host over a range, in the shape of the history API
(``series`` of ``name``, ``labels`` and ``points``, with ``tier``); the dashboard draws its
sparklines from it.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from hostvitals.collector.api.live import SCOPE, Scope, mark, peers_to_ask
from hostvitals.collector.api.query import json_response, tiered_range
from hostvitals.collector.live.cluster import Cluster, Row, newest_per_host
from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.fleet import fleet_queries, fleet_row

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/fleet", summary="Every host: status, headline numbers and agent health")
async def fleet(
    request: Request,
    status: Literal["up", "stale", "down"] | None = Query(None, description="only these hosts"),
    scope: Scope = SCOPE,
) -> Response:
    store: CurrentStore = request.app.state.current
    now = time.time()
    rows = await fleet_rows(store, peers_to_ask(request, scope), now)
    if status is not None:
        rows = [row for row in rows if row.get("status") == status]
    return mark(request, json_response({"status": "success", "data": {"now": now, "hosts": rows}}))


async def fleet_rows(store: CurrentStore, cluster: Cluster | None, now: float) -> list[Row]:
    """The fleet table: this replica's hosts, and its peers' when there are peers."""
    rows = [fleet_row(s) for s in store.hosts(now)]
    if cluster is None or not cluster.enabled:
        return rows
    answers = await cluster.gather("/api/v1/fleet")
    theirs = [data.get("hosts", []) for data in answers if isinstance(data, dict)]
    return newest_per_host([rows, *theirs])


@router.get("/fleet/history", summary="Headline numbers of every host over a time range")
async def fleet_history(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
    resolution: str | None = None,
    nocache: bool = False,
) -> Response:
    """``start``/``end``: Unix seconds or RFC 3339 (default: the last ``query.default_range_s``);
    ``step``: seconds or a duration such as ``15s`` (default: about ``query.default_points``);
    ``resolution`` and ``nocache`` as in the history API: the finest tier that still holds
    ``start`` answers, and the answer is shared through the query cache."""
    return await tiered_range(
        request,
        ("fleet",),
        fleet_queries,
        start=start,
        end=end,
        step=step,
        resolution=resolution,
        nocache=nocache,
        extra={},
    )
