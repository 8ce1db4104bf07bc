"""``GET /api/v1/cluster``: this replica, its peers and which one leads alerting; and the
forwarding of the alerting API to the leader (see collector/live/cluster.py)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from hostvitals.collector.api.live import SCOPE, Scope, mark
from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.cluster import SCOPE_LOCAL, Cluster, PeerUnavailable

router = APIRouter(prefix="/api/v1", tags=["cluster"])


@router.get("/cluster", summary="This replica, its peers, and the replica that leads alerting")
async def cluster_info(request: Request, scope: Scope = SCOPE) -> Response:
    cluster: Cluster = request.app.state.cluster
    data: dict[str, Any] = {"instance": cluster.instance, "peers": cluster.peers}
    if scope != SCOPE_LOCAL:  # a peer checking this one is up needs no more than that
        leader = await cluster.leader() if cluster.enabled else None
        data["leader"] = leader if leader is not None else "self"
    body = orjson.dumps({"status": "success", "data": data})
    return mark(request, Response(body, media_type="application/json"))


class Forwarded(Exception):
    """The leader's answer to a request this replica forwarded, to be sent as it is."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def on_leader(request: Request) -> None:
    """Send the request to the alerting leader unless this replica leads (or is asked for its
    own view with ``scope=local``); raises :class:`Forwarded` with the leader's answer."""
    cluster: Cluster = request.app.state.cluster
    if not cluster.enabled or request.query_params.get("scope") == SCOPE_LOCAL:
        return
    leader = await cluster.leader()
    if leader is None:
        return
    try:
        status, body, kind = await cluster.forward(
            leader,
            request.method,
            request.url.path,
            request.query_params.multi_items(),
            await request.body(),
            request.headers,
        )
    except PeerUnavailable as exc:
        raise ApiError(503, "unavailable", f"alerting is led by another replica: {exc}") from None
    raise Forwarded(Response(body, status_code=status, media_type=kind))


async def forwarded_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forwarded)
    return exc.response
