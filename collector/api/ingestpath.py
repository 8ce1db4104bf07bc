"""``POST /api/v1/ingest`` taken before the framework's routing.

Agents push a frame every few seconds each, so a fleet makes this the busiest route, and
on the event loop every request's routing, dependency handling and response objects cost
about a tenth of what the whole ingest does. This ASGI middleware sits inside the access
check and the rate limits (a request reaching it is an allowed agent's) and runs the
endpoint's own code, :func:`~hostvitals.collector.api.ingest.accept`, on the raw request:
the answer, errors included, is the one the routed endpoint gives. Any other request goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.datastructures import Headers, State
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from hostvitals.collector.api.ingest import accept
from hostvitals.collector.errors import ApiError, error_response

PATH = "/api/v1/ingest"


class IngestFastPath:
    def __init__(self, app: ASGIApp, *, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        try:
            headers = await accept(self.state, scope, Headers(scope=scope), _body(receive))
        except ApiError as exc:
            answer = error_response(exc.status, exc.error_type, exc.message, exc.headers)
            await answer(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as they arrive, as ``Request.stream`` gives them."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
