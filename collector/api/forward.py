"""Forwarding the alerting API to the replica that leads alerting (see
collector/live/cluster.py): a router dependency, and the handler that sends the leader's answer.
"""

from __future__ import annotations

from fastapi import Request, Response

from hostvitals.collector.errors import ApiError
from hostvitals.collector.live.cluster import SCOPE_LOCAL, Cluster, PeerUnavailable


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
