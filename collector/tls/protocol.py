"""uvicorn's HTTP protocols, passing each connection's verified client certificate on.

uvicorn does not put the peer certificate in the ASGI scope. These subclasses read it from
the transport once, when the connection is made (asyncio and uvloop call ``connection_made``
after the handshake), and give that connection an app that adds it to every request's scope
under :data:`~hostvitals.collector.tls.peer.SCOPE_KEY`. A connection without a verified
certificate gets the app unchanged.
"""

from __future__ import annotations

import asyncio
import importlib.util

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from hostvitals.collector.tls.peer import SCOPE_KEY, PeerCertificate


class WithPeer:
    def __init__(self, app: ASGIApp, peer: PeerCertificate) -> None:
        self.app = app
        self.peer = peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SCOPE_KEY] = self.peer
        await self.app(scope, receive, send)


def _peer(transport: asyncio.BaseTransport) -> PeerCertificate | None:
    return PeerCertificate.from_peercert(transport.get_extra_info("peercert"))


class H11PeerProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = _peer(transport)
        if peer is not None:
            self.app = WithPeer(self.app, peer)


def protocol_class() -> type[asyncio.Protocol]:
    """httptools' protocol when it is installed (uvicorn's own choice), else h11's."""
    if importlib.util.find_spec("httptools") is None:
        return H11PeerProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsPeerProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = _peer(transport)
            if peer is not None:
                self.app = WithPeer(self.app, peer)

    return HttpToolsPeerProtocol
