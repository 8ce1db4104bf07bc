"""The live view's most asked answer, served before the framework sees the request.

Dashboards poll ``GET /api/v1/metrics/current?host=...`` many times a second, and the answer
is usually already encoded in :class:`~hostvitals.collector.live.answers.CurrentCache`.
Routing, parameter parsing and the framework's middleware cost several times what sending those
bytes does, so this ASGI middleware sends a cached answer straight away when there is one for
exactly that request (no parameter other than a single ``host``; no peers to combine). Anything
else, and any miss, goes on to the endpoint, which fills the cache. An answer sent here marks
its host watched, as the endpoint does (``hostvitals.collector.live.watch``).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from hostvitals.collector.live.answers import CurrentCache
from hostvitals.collector.live.cluster import INSTANCE_HEADER, Cluster
from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.watch import WatchRegistry

PATH = "/api/v1/metrics/current"


class CurrentFastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        store: CurrentStore,
        cache: CurrentCache,
        cluster: Cluster,
        watch: WatchRegistry | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.app = app
        self.served = Counter(
            "hostvitals_collector_current_fast_answers_total",
            "Answers of /api/v1/metrics/current sent from the encoded cache before routing.",
            registry=registry,
        )
        self.store = store
        self.cache = cache
        self.cluster = cluster
        self.watch = watch
        self._instance = (INSTANCE_HEADER.lower().encode(), cluster.instance.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] == PATH
            and not self.cluster.enabled
        ):
            host, body = self._cached(scope["query_string"])
            if body is not None:
                if host is not None and self.watch is not None:
                    self.watch.host(host)
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            self._instance,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                self.served.inc()
                return
        await self.app(scope, receive, send)

    def _cached(self, query: bytes) -> tuple[str | None, bytes | None]:
        """The host asked for (None: every host) and its cached answer, if there is one."""
        try:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, strict_parsing=False)
        except ValueError:
            return None, None
        if len(pairs) > 1 or (pairs and (pairs[0][0] != "host" or not pairs[0][1])):
            return None, None
        host = pairs[0][1] if pairs else None
        return host, self.cache.get(host, self.store.version, time.time())
