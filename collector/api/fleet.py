"""Fleet API: every host with its status, headline numbers and agent health, and their history.

``GET /api/v1/fleet`` answers from the live view, with each host's inventory (OS, kernel, CPU
model, boot time, agent version and whether it is older than this collector) and its disk
forecast (the filesystem full first, when within a day; refreshed every few minutes). ``GET
/api/v1/fleet/history`` answers ``cpu_usage_ratio``, ``memory_used_ratio``,
``filesystem_max_used_ratio`` and ``network_bytes_per_second`` per host over a range, in the
shape of the history API (``series`` of ``name``, ``labels`` and ``points``, with ``tier``);
the dashboard draws its sparklines from it.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from hostvitals.collector.api.history import history_answer
from hostvitals.collector.api.params import SCOPE, RangeParams, Scope, peers_to_ask, range_params
from hostvitals.collector.api.responses import success
from hostvitals.collector.api.rowcontext import row_context
from hostvitals.collector.api.watching import watching
from hostvitals.collector.live.fleet import FleetTable, fleet_queries, fleet_rows

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/fleet", summary="Every host: status, headline numbers and agent health")
async def fleet(
    request: Request,
    status: Literal["up", "stale", "down"] | None = Query(None, description="only these hosts"),
    host: str | None = Query(None, min_length=1, description="only this host"),
    scope: Scope = SCOPE,
) -> Response:
    """Counts as someone looking at every host, or at ``host`` when it is given: while
    watched, hosts are asked to flush every tick (see docs/architecture.md)."""
    if host is None:
        watching(request).fleet()
    else:
        watching(request).host(host)
    table: FleetTable = request.app.state.fleet_table
    now = time.time()
    rows = await fleet_rows(
        table, peers_to_ask(request, scope), now, host=host, context=row_context(request)
    )
    if status is not None:
        rows = [row for row in rows if row.get("status") == status]
    return success(request, {"now": now, "hosts": rows})


@router.get("/fleet/history", summary="Headline numbers of every host over a time range")
async def fleet_history(
    request: Request,
    asked: Annotated[RangeParams, Depends(range_params)],
) -> Response:
    """``start``/``end``: Unix seconds or RFC 3339 (default: the last ``query.default_range_s``);
    ``step``: seconds or a duration such as ``15s`` (default: about ``query.default_points``);
    ``resolution`` and ``nocache`` as in the history API: the finest tier that still holds
    ``start`` answers, and the answer is shared through the query cache."""
    return await history_answer(request, asked, ("fleet",), fleet_queries, {})
