"""``GET /api/v1/cluster``: this replica, its peers and which one leads alerting (see
collector/live/cluster.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hostvitals.collector.api.params import SCOPE, Scope
from hostvitals.collector.api.responses import success
from hostvitals.collector.live.cluster import SCOPE_LOCAL, Cluster

router = APIRouter(prefix="/api/v1", tags=["cluster"])


@router.get("/cluster", summary="This replica, its peers, and the replica that leads alerting")
async def cluster_info(request: Request, scope: Scope = SCOPE) -> Response:
    cluster: Cluster = request.app.state.cluster
    data: dict[str, Any] = {"instance": cluster.instance, "peers": cluster.peers}
    if scope != SCOPE_LOCAL:  # a peer checking this one is up needs no more than that
        leader = await cluster.leader() if cluster.enabled else None
        data["leader"] = leader if leader is not None else "self"
    return success(request, data)
