"""POST /api/v1/ingest against create_app with an in-memory VictoriaMetrics stand-in."""

from __future__ import annotations

import asyncio
import gzip
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgpack
import pytest
import zstandard

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.support.collector_app import (
    FakeVictoriaMetrics,
    msgpack_headers,
    running,
    settings,
)
from tests.support.frames import catalogue_frame, ticks_ending_now

HOST = "unit-ingest"
DAY_MS = 24 * 3600 * 1000


def frame(**overrides: Any) -> Frame:
    base = catalogue_frame(
        HOST, ticks_ending_now(3), metrics=["node_load1", "node_cpu_seconds_total"]
    )
    for name, value in overrides.items():
        setattr(base, name, value)
    return base


def small_frame(series: list[Series], ticks: list[int] | None = None) -> bytes:
    ticks = ticks or ticks_ending_now(2)
    return encode_frame(Frame("agent-1", HOST, 1, ticks[-1], 1.0, ticks, series))


def raw_document(**changes: Any) -> bytes:
    doc: dict[str, Any] = msgpack.unpackb(encode_frame(frame()))
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    packed: bytes = msgpack.packb(doc)
    return packed


def rejected(metrics: Any, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "hostvitals_collector_ingest_rejected_total", {"reason": reason}
    )
    assert value is not None
    return float(value)


def sample(metrics: Any, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None
    return float(value)


async def test_valid_frame_is_written_with_the_host_label() -> None:
    sent = frame()
    async with running() as (app, client, vm):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(sent), headers=msgpack_headers()
        )
        assert response.status_code == 204, response.text
        assert response.content == b""
        lines = vm.lines()
        assert len(lines) == len(sent.series)
        assert {line["metric"]["host"] for line in lines} == {HOST}
        load = next(line for line in lines if line["metric"]["__name__"] == "node_load1")
        assert load["values"] == sent.series[0].values
        assert load["timestamps"] == sent.timestamps_ms
        metrics = app.state.metrics
        assert sample(metrics, "hostvitals_collector_ingest_frames_total") == 1
        assert sample(metrics, "hostvitals_collector_samples_written_total") == sent.sample_count()


@pytest.mark.parametrize("encoding", ["zstd", "gzip", "identity"])
async def test_compressed_bodies_are_accepted(encoding: str) -> None:
    data = encode_frame(frame())
    compressors: dict[str, Callable[[bytes], bytes]] = {
        "zstd": zstandard.ZstdCompressor().compress,
        "gzip": gzip.compress,
        "identity": lambda d: d,
    }
    body = compressors[encoding](data)
    async with running() as (_app, client, vm):
        response = await client.post(
            "/api/v1/ingest",
            content=body,
            headers=msgpack_headers(**{"Content-Encoding": encoding}),
        )
        assert response.status_code == 204, response.text
        assert len(vm.posts) == 1


@dataclass
class Case:
    status: int
    reason: str
    says: str
    body: bytes | Callable[[], bytes] = b""
    headers: dict[str, str] = field(default_factory=msgpack_headers)
    limits: dict[str, Any] = field(default_factory=dict)


def bomb(compress: Callable[[bytes], bytes]) -> Callable[[], bytes]:
    return lambda: compress(b"\0" * (4 * 1024 * 1024))


def gzip_bomb(data: bytes) -> bytes:
    return gzip.compress(data, 9)


def zstd_bomb(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=19).compress(data)


def too_old() -> bytes:
    return encode_frame(frame(timestamps_ms=ticks_ending_now(3, end_ms=_now_ms() - 8 * DAY_MS)))


def in_future() -> bytes:
    return encode_frame(frame(timestamps_ms=ticks_ending_now(3, end_ms=_now_ms() + 600_000)))


def _now_ms() -> int:
    return int(time.time() * 1000)


CASES: dict[str, Case] = {
    "wrong content type": Case(
        415,
        "unsupported_media_type",
        "Content-Type must be application/x-msgpack",
        lambda: encode_frame(frame()),
        {"Content-Type": "application/json"},
    ),
    "no content type": Case(
        415,
        "unsupported_media_type",
        "got none",
        lambda: encode_frame(frame()),
        {},
    ),
    "unknown encoding": Case(
        415,
        "unsupported_encoding",
        "supported: zstd, gzip, identity",
        lambda: encode_frame(frame()),
        msgpack_headers(**{"Content-Encoding": "br"}),
    ),
    "not msgpack": Case(400, "bad_msgpack", "not", b"\xc1 definitely not msgpack"),
    "truncated msgpack": Case(400, "bad_msgpack", "msgpack", lambda: encode_frame(frame())[:-7]),
    "unknown version": Case(400, "unsupported_version", "supported: 1", lambda: raw_document(v=99)),
    "corrupt zstd": Case(
        400,
        "bad_compression",
        "zstd",
        b"\x28\xb5\x2f\xfd garbage",
        msgpack_headers(**{"Content-Encoding": "zstd"}),
    ),
    "corrupt gzip": Case(
        400,
        "bad_compression",
        "gzip",
        b"\x1f\x8b\x08\x00garbage",
        msgpack_headers(**{"Content-Encoding": "gzip"}),
    ),
    "zstd bomb": Case(
        413,
        "decompressed_too_large",
        "decompressed body is over the limit of 1048576 bytes",
        bomb(zstd_bomb),
        msgpack_headers(**{"Content-Encoding": "zstd"}),
        {"max_decompressed_bytes": 1024 * 1024},
    ),
    "gzip bomb": Case(
        413,
        "decompressed_too_large",
        "decompressed body is over the limit of 1048576 bytes",
        bomb(gzip_bomb),
        msgpack_headers(**{"Content-Encoding": "gzip"}),
        {"max_decompressed_bytes": 1024 * 1024},
    ),
    "missing field": Case(422, "bad_schema", "host: missing", lambda: raw_document(host=None)),
    "wrong type": Case(
        422, "bad_schema", "seq: must be int, got string", lambda: raw_document(seq="7")
    ),
    "NaN": Case(
        422,
        "bad_schema",
        "series[0].values[1]: value nan is not a finite number",
        lambda: small_frame([Series("node_load1", {}, [1.0, math.nan])]),
    ),
    "inf": Case(
        422,
        "bad_schema",
        "series[0].values[0]: value inf is not a finite number",
        lambda: small_frame([Series("node_load1", {}, [math.inf, 1.0])]),
    ),
    "unknown metric": Case(
        422,
        "unknown_metric",
        "unknown metric 'node_bogus_total'",
        lambda: small_frame([Series("node_bogus_total", {}, [1, 2])]),
    ),
    "label not in catalogue": Case(
        422,
        "label_set",
        "unexpected {core}",
        lambda: small_frame([Series("node_load1", {"core": "0"}, [1, 2])]),
    ),
    "missing label": Case(
        422,
        "label_set",
        "missing {mode}",
        lambda: small_frame([Series("node_cpu_seconds_total", {"cpu": "0"}, [1, 2])]),
    ),
    "reserved host label": Case(
        422,
        "reserved_label",
        "label 'host' is reserved",
        lambda: small_frame([Series("node_load1", {"host": "other"}, [1, 2])]),
    ),
    "duplicate series": Case(
        422,
        "duplicate_series",
        'node_disk_read_bytes_total{device="sda"} appears more than once',
        lambda: small_frame(
            [
                Series("node_disk_read_bytes_total", {"device": "sda"}, [1, 2]),
                Series("node_disk_read_bytes_total", {"device": "sda"}, [3, 4]),
            ]
        ),
    ),
    "label value too long": Case(
        422,
        "label_value_too_long",
        "label 'device' is 11 characters long; the limit is 10",
        lambda: small_frame([Series("node_disk_read_bytes_total", {"device": "x" * 11}, [1, 2])]),
        limits={"max_label_value_length": 10},
    ),
    "too many series": Case(
        422,
        "too_many_series",
        "frame has 17 series; the limit is 5",
        lambda: encode_frame(frame()),
        limits={"max_series_per_frame": 5},
    ),
    "too many samples": Case(
        422,
        "too_many_samples",
        "frame has 51 samples; the limit is 50",
        lambda: encode_frame(frame()),
        limits={"max_samples_per_frame": 50},
    ),
    "too old": Case(422, "too_old", "is too old; the accepted window is", too_old),
    "too far in the future": Case(
        422, "too_far_in_future", "is too far in the future; the accepted window is", in_future
    ),
    "body too large by Content-Length": Case(
        413,
        "body_too_large",
        "body of 4096 bytes is over the limit of 1024 bytes",
        b"\0" * 4096,
        limits={"max_body_bytes": 1024},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_rejections_answer_with_status_reason_and_write_nothing(name: str) -> None:
    case = CASES[name]
    body = case.body() if callable(case.body) else case.body
    async with running(settings(limits=case.limits)) as (app, client, vm):
        response = await client.post("/api/v1/ingest", content=body, headers=case.headers)
        assert response.status_code == case.status, response.text
        doc = response.json()
        assert doc["status"] == "error"
        assert isinstance(doc["errorType"], str) and doc["errorType"]
        assert case.says in doc["error"]
        assert rejected(app.state.metrics, case.reason) == 1
        assert sample(app.state.metrics, "hostvitals_collector_ingest_frames_total") == 0
        assert vm.posts == []
        assert app.state.current.hosts(time.time()) == []


async def test_too_old_and_future_messages_name_the_tick_and_window() -> None:
    old = frame(timestamps_ms=[1_000, 2_000, 3_000])
    async with running() as (_app, client, _vm):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(old), headers=msgpack_headers()
        )
    assert response.status_code == 422
    message = response.json()["error"]
    assert "tick 1000 ms (1970-01-01T00:00:01.000+00:00) is too old" in message
    assert "accepted window is" in message and " .. " in message


async def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    consumed: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(4):
            consumed.append(b"x")
            yield b"\0" * 1024

    async with running(settings(limits={"max_body_bytes": 1024})) as (_app, client, vm):
        response = await client.post(
            "/api/v1/ingest",
            content=body(),
            headers=msgpack_headers(**{"Content-Length": "4096"}),
        )
    assert response.status_code == 413
    assert consumed == []
    assert vm.posts == []


async def test_streamed_body_over_the_limit_is_refused_while_streaming() -> None:
    chunks_sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for i in range(100):
            chunks_sent.append(i)
            yield b"\0" * 512

    async with running(settings(limits={"max_body_bytes": 2048})) as (app, client, vm):
        response = await client.post("/api/v1/ingest", content=body(), headers=msgpack_headers())
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "body is over the limit of 2048 bytes"
        assert rejected(app.state.metrics, "body_too_large") == 1
    # The collector stopped reading at the first chunk past the limit.
    assert len(chunks_sent) < 100
    assert vm.posts == []


async def test_bad_content_length_is_400() -> None:
    async with running() as (_app, client, _vm):
        response = await client.post(
            "/api/v1/ingest",
            content=b"",
            headers=msgpack_headers(**{"Content-Length": "-5"}),
        )
    assert response.status_code == 400
    assert "Content-Length" in response.json()["error"]


async def test_tokens_are_required_when_configured() -> None:
    body = encode_frame(frame())
    app_settings = settings(auth={"tokens": ["s3cret", "other-token"]})
    async with running(app_settings) as (app, client, vm):
        missing = await client.post("/api/v1/ingest", content=body, headers=msgpack_headers())
        wrong = await client.post(
            "/api/v1/ingest", content=body, headers=msgpack_headers(Authorization="Bearer nope")
        )
        basic = await client.post(
            "/api/v1/ingest", content=body, headers=msgpack_headers(Authorization="Basic s3cret")
        )
        for response in (missing, wrong, basic):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert response.json()["errorType"] == "unauthorized"
        assert vm.posts == []
        assert rejected(app.state.metrics, "unauthorized") == 3

        ok = await client.post(
            "/api/v1/ingest", content=body, headers=msgpack_headers(Authorization="Bearer s3cret")
        )
        assert ok.status_code == 204, ok.text
        assert len(vm.posts) == 1


async def test_store_unreachable_answers_503_with_retry_after() -> None:
    fake = FakeVictoriaMetrics()
    fake.error = ConnectionError("connection refused")
    async with running(backend=fake) as (app, client, _vm):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame()), headers=msgpack_headers()
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "connection refused" in response.json()["error"]
        assert rejected(app.state.metrics, "vm_unavailable") == 1
        assert app.state.current.hosts(time.time()) == []


async def test_store_5xx_answers_503() -> None:
    fake = FakeVictoriaMetrics()
    fake.status = 500
    async with running(backend=fake) as (_app, client, _vm):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame()), headers=msgpack_headers()
        )
    assert response.status_code == 503
    assert "Retry-After" in response.headers


async def test_store_refusing_our_lines_is_a_500() -> None:
    fake = FakeVictoriaMetrics()
    fake.status = 400
    async with running(backend=fake) as (app, client, _vm):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame()), headers=msgpack_headers()
        )
        assert response.status_code == 500
        assert response.json()["errorType"] == "internal"
        assert "refused" in response.json()["error"]
        assert rejected(app.state.metrics, "vm_rejected") == 1


async def test_a_frame_sent_again_is_acknowledged_but_written_once() -> None:
    body = encode_frame(frame(seq=41))
    async with running() as (app, client, vm):
        first = await client.post("/api/v1/ingest", content=body, headers=msgpack_headers())
        second = await client.post("/api/v1/ingest", content=body, headers=msgpack_headers())
        assert (first.status_code, second.status_code) == (204, 204)
        assert len(vm.posts) == 1
        assert sample(app.state.metrics, "hostvitals_collector_ingest_duplicates_total") == 1
        assert sample(app.state.metrics, "hostvitals_collector_ingest_frames_total") == 1


class BlockingVictoriaMetrics(FakeVictoriaMetrics):
    """Holds every import until released, so a test can fill the queue behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def post_import(self, body: bytes) -> tuple[int, str]:
        self.entered.set()
        assert self.release.wait(30), "test never released the import"
        return super().post_import(body)


async def test_full_write_queue_answers_503_with_retry_after() -> None:
    fake = BlockingVictoriaMetrics()
    bodies = [encode_frame(frame(seq=i)) for i in range(3)]
    app_settings = settings(victoriametrics={"write_queue_max_bytes": 1, "write_concurrency": 1})
    async with running(app_settings, backend=fake) as (app, client, _vm):

        def post(body: bytes) -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(
                client.post("/api/v1/ingest", content=body, headers=msgpack_headers())
            )

        in_flight = post(bodies[0])
        assert await asyncio.to_thread(fake.entered.wait, 30)
        queued = post(bodies[1])
        writer = app.state.writer
        for _ in range(3000):  # the second frame reaches the (empty) queue
            if writer.queued_bytes > 0:
                break
            await asyncio.sleep(0.01)
        assert writer.queued_bytes > 0
        refused = await client.post("/api/v1/ingest", content=bodies[2], headers=msgpack_headers())
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "queue is full" in refused.json()["error"]
        assert rejected(app.state.metrics, "queue_full") == 1

        fake.release.set()
        assert (await in_flight).status_code == 204
        assert (await queued).status_code == 204
        assert len(fake.posts) == 2


async def test_a_frame_without_samples_is_acknowledged_without_a_write() -> None:
    body = small_frame([Series("node_load1", {}, [None, None])])
    async with running() as (app, client, vm):
        response = await client.post("/api/v1/ingest", content=body, headers=msgpack_headers())
        assert response.status_code == 204, response.text
        assert vm.posts == []
        assert sample(app.state.metrics, "hostvitals_collector_ingest_frames_total") == 1
        assert [h.host for h in app.state.current.hosts(time.time())] == [HOST]
