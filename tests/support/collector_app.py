"""Run the collector app in-process for API tests, with a real or an in-memory VictoriaMetrics."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from hostvitals.collector.app import create_app
from hostvitals.collector.config.limits import QuerySettings
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.errors import install_error_handlers
from hostvitals.collector.query.cache import QueryCache
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.vm.client import VictoriaMetricsBackend
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame


class FakeVictoriaMetrics:
    """Records import bodies; answers with ``status`` or raises ``error``."""

    def __init__(self) -> None:
        self.posts: list[bytes] = []
        self.status = 204
        self.error: Exception | None = None
        self.reachable = True
        self.pings = 0
        self._lock = threading.Lock()

    def post_import(self, body: bytes) -> tuple[int, str]:
        with self._lock:
            if self.error is not None:
                raise self.error
            self.posts.append(body)
            return self.status, "" if self.status < 300 else "refused"

    def ping(self) -> None:
        self.pings += 1
        if not self.reachable:
            raise ConnectionError("connection refused")

    def close(self) -> None:
        pass

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for body in self.posts for line in body.splitlines()]


def settings(**sections: dict[str, Any]) -> Settings:
    doc: dict[str, Any] = {"victoriametrics": {"write_max_delay_ms": 0}}
    for name, values in sections.items():
        doc[name] = {**doc.get(name, {}), **values}
    return Settings.model_validate(doc)


@asynccontextmanager
async def serving(
    app_settings: Settings, backend: VictoriaMetricsBackend | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Run the app (lifespan included) in-process and yield it with a client.

    Without ``backend`` the app talks to the VictoriaMetrics named in the settings.
    """
    app = create_app(app_settings, backend=backend)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://collector") as client:
            yield app, client


@asynccontextmanager
async def running(
    app_settings: Settings | None = None, backend: FakeVictoriaMetrics | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, FakeVictoriaMetrics]]:
    """The app with the in-memory stand-in (``backend``, or a new one) as VictoriaMetrics."""
    fake = backend or FakeVictoriaMetrics()
    async with serving(app_settings or settings(), fake) as (app, client):
        yield app, client, fake


def msgpack_headers(**extra: str) -> dict[str, str]:
    return {"Content-Type": "application/x-msgpack", **extra}


async def post_frame(client: httpx.AsyncClient, frame: Frame) -> httpx.Response:
    """POST one frame to the collector's ingest endpoint, msgpack-encoded."""
    return await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )


def router_app(router: APIRouter, reader: VictoriaMetricsReader) -> FastAPI:
    """A bare app with one query router, its error handlers, a reader, the query settings, a
    query cache and the collector's own metrics, all as the collector's defaults have them."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.reader = reader
    query = QuerySettings()
    app.state.settings = SimpleNamespace(query=query)
    app.state.metrics = SelfMetrics()
    app.state.query_cache = QueryCache(
        query.cache_ttl_s, query.cache_max_bytes, CollectorRegistry()
    )
    return app


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector")
