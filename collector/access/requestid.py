"""``X-Request-Id``: every request gets one, kept in its ASGI scope and sent back.

A well-formed id from the client (1 to 64 of ``A-Z a-z 0-9 . _ -``, as a proxy in front
might set) is kept, so one id follows the request through the proxy's log, the collector's
and the audit log; anything else is replaced by a new random id.

A new id needs to be unique, not secret: it comes from the process's own generator, seeded
from the system's at start, so that making one is no system call on the event loop.
"""

from __future__ import annotations

import random
import re
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hostvitals.collector.access.audit import REQUEST_ID_KEY

HEADER: Final = b"x-request-id"
_IDS: Final = random.Random()  # seeded from os.urandom
_WELL_FORMED: Final = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


def request_id(scope: Scope) -> str:
    """The request's id: the client's when well formed, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == HEADER and _WELL_FORMED.match(value):
            text: str = value.decode("ascii")
            return text
    return f"{_IDS.getrandbits(64):016x}"


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = scope[REQUEST_ID_KEY] = request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != HEADER]
                message["headers"] = [*headers, (HEADER, rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)
