"""The ingest fast path answers as the routed endpoint does, and takes the requests itself."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import zstandard
from fastapi import FastAPI
from starlette.routing import BaseRoute

from hostvitals.collector import app as app_module
from hostvitals.collector.api.ingest import router
from hostvitals.collector.api.ingestpath import IngestFastPath
from hostvitals.collector.drain import Drain
from hostvitals.collector.ingest.flushadvice import LoopLag
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import FLUSH_INTERVAL_HEADER
from tests.support.collector_app import msgpack_headers, running
from tests.support.frames import catalogue_frame, ticks_ending_now

PATH = "/api/v1/ingest"


def body() -> bytes:
    frame = catalogue_frame("fast-path", ticks_ending_now(3), metrics=["node_load1"])
    return encode_frame(frame)


def gzip_body() -> bytes:
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return packer.compress(body()) + packer.flush()


REQUESTS: dict[str, tuple[Callable[[], bytes], dict[str, str]]] = {
    "a frame": (body, msgpack_headers()),
    "a zstd frame": (
        lambda: zstandard.ZstdCompressor().compress(body()),
        msgpack_headers(**{"Content-Encoding": "zstd"}),
    ),
    "a gzip frame": (gzip_body, msgpack_headers(**{"Content-Encoding": "gzip"})),
    "the wrong content type": (body, {"Content-Type": "application/json"}),
    "an unknown encoding": (body, msgpack_headers(**{"Content-Encoding": "br"})),
    "corrupt zstd": (
        lambda: b"\x28\xb5\x2f\xfd garbage",
        msgpack_headers(**{"Content-Encoding": "zstd"}),
    ),
    "not msgpack": (lambda: b"\xc1\xc1\xc1", msgpack_headers()),
    "not a frame": (lambda: b"\x93\x01\x02\x03", msgpack_headers()),
    "a bad content length": (body, msgpack_headers(**{"Content-Length": "many"})),
    "an empty body": (lambda: b"", msgpack_headers()),
}


def routed_only(app: FastAPI) -> None:
    """Rebuild ``app``'s middleware without the fast path."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not IngestFastPath]
    app.middleware_stack = app.build_middleware_stack()


def ingest_routes(app: FastAPI) -> BaseRoute:
    """The included ingest router's entry in the app's routes."""
    return next(r for r in app.router.routes if getattr(r, "original_router", None) is router)


def answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in {"x-request-id", "date"}}
    return response.status_code, headers, response.content


async def send(client: httpx.AsyncClient, name: str) -> httpx.Response:
    make, headers = REQUESTS[name]
    return await client.post(PATH, content=make(), headers=headers)


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_the_fast_path_answers_as_the_routed_endpoint(name: str) -> None:
    async with running() as (_app, client, _vm):
        fast = answer(await send(client, name))
    async with running() as (app, client, _vm):
        routed_only(app)
        routed = answer(await send(client, name))
    assert fast == routed
    assert fast[0] in {204, 400, 415, 422}


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_the_fast_path_answers_without_the_route(name: str) -> None:
    async with running() as (_app, client, _vm):
        expected = answer(await send(client, name))
    async with running() as (app, client, _vm):
        app.router.routes.remove(ingest_routes(app))
        assert answer(await send(client, name)) == expected
    async with running() as (app, client, _vm):
        app.router.routes.remove(ingest_routes(app))
        routed_only(app)
        assert (await send(client, name)).status_code == 404  # the route is really gone


class IdleLag(LoopLag):
    """No loop lag: the flush advice must not depend on how busy the test process is."""

    async def run(self) -> None:
        await asyncio.Event().wait()


async def test_draining_and_flush_advice_are_answered_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "LoopLag", IdleLag)
    answers: list[Any] = []
    for fast in (True, False):
        async with running() as (app, client, _vm):
            if not fast:
                routed_only(app)
            app.state.watch.host("fast-path")
            advised = await send(client, "a frame")
            drain: Drain = app.state.drain
            drain.begin()
            answers.append((answer(advised), answer(await send(client, "a frame"))))
    assert answers[0] == answers[1]
    (advised_status, advised_headers, _), (drained_status, drained_headers, _) = answers[0]
    assert advised_status == 204
    assert FLUSH_INTERVAL_HEADER.lower() in advised_headers
    assert drained_status == 503
    assert "retry-after" in drained_headers


async def test_other_methods_and_paths_go_on_to_the_router() -> None:
    async with running() as (_app, client, _vm):
        assert (await client.get(PATH)).status_code == 405
        assert (await client.post(PATH + "/", content=body())).status_code in {307, 404}
