"""Query parameters that several routers share: ``scope`` (this replica or the whole cluster)
and a history query's ``start``, ``end``, ``step``, ``resolution`` and ``nocache``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from fastapi import Query, Request

from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.cluster import SCOPE_LOCAL, Cluster
from hostvitals.collector.query.planning import QueryLimits
from hostvitals.collector.query.timeparse import TimeRange, TimeRangeError, parse_range

Scope = Literal["cluster", "local"]
SCOPE = Query(
    "cluster",
    description="cluster: every replica's hosts (cluster.peers); local: this replica's own",
)


def peers_to_ask(request: Request, scope: str) -> Cluster | None:
    """The peers to ask as well, or None (no peers, or a peer asking for this view only)."""
    cluster: Cluster = request.app.state.cluster
    return cluster if cluster.enabled and scope != SCOPE_LOCAL else None


@dataclass(frozen=True, slots=True)
class RangeParams:
    """A history query's validated window, the time it was asked at (Unix seconds), the tier
    it asks for (None: the finest that holds ``start``) and whether to skip the query cache."""

    span: TimeRange
    now: float
    resolution: str | None
    nocache: bool


async def range_params(
    request: Request,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
    resolution: str | None = None,
    nocache: bool = False,
) -> RangeParams:
    """``start``/``end``: Unix seconds or RFC 3339 (default: the last ``query.default_range_s``);
    ``step``: seconds or a duration such as ``15s`` (default: about ``query.default_points``
    points). A bad one is answered 400 with what it accepts. ``resolution`` and ``nocache``
    are passed on as they are. A coroutine, so FastAPI runs it on the loop: as a plain
    function it would go to a worker thread and back, which costs more than the parsing."""
    limits: QueryLimits = request.app.state.settings.query
    now = time.time()
    try:
        span = parse_range(
            start,
            end,
            step,
            now=now,
            default_range_s=limits.default_range_s,
            default_points=limits.default_points,
            max_points=limits.max_points,
        )
    except TimeRangeError as exc:
        raise ApiError(400, "bad_data", str(exc)) from None
    return RangeParams(span, now, resolution, nocache)
