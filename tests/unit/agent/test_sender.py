"""The sender against a real local HTTP server (aiohttp's test server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent.outbox import MemoryQueue
from agent.sender import Sender, SenderSettings
from shared.codec import decode_frame
from shared.protocol import CONTENT_TYPE, Frame, Series


@dataclass
class FakeCollector:
    """Answers ingest requests from a script; 204 once the script is used up."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        status, headers, text = self.script.pop(0) if self.script else (204, {}, "")
        if status == 0:  # too slow: the client gives up first
            await asyncio.sleep(0.5)
            status = 204
        return web.Response(status=status, headers=headers, text=text or None)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def frames(self) -> list[Frame]:
        return [decode_frame(body) for _, body in self.requests]


@pytest.fixture
async def collector() -> AsyncIterator[FakeCollector]:
    fake = FakeCollector()
    app = web.Application()
    app.router.add_post("/api/v1/ingest", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.server = server
    yield fake
    await server.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def frame(seq: int = 1, samples: int = 3) -> Frame:
    return Frame(
        agent_id="agent-1",
        host="web-1",
        seq=seq,
        sent_at_ms=1_764_000_010_000,
        interval_s=1.0,
        timestamps_ms=[1_764_000_000_000 + 1000 * i for i in range(samples)],
        series=[Series("node_load1", {}, [0.5] * samples)],
    )


class Sleeps:
    """Records backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@dataclass
class Rig:
    sender: Sender
    queue: MemoryQueue
    sleeps: Sleeps


@pytest.fixture
async def make_sender() -> AsyncIterator[Callable[..., Rig]]:
    made: list[Sender] = []

    def make(
        *urls: str,
        clock: Callable[[], float] | None = None,
        queue_bytes: int = 1 << 20,
        **settings: Any,
    ) -> Rig:
        settings.setdefault("compression", "none")
        queue = MemoryQueue(queue_bytes)
        sleeps = Sleeps()
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        sender = Sender(SenderSettings(urls=urls, **settings), queue, sleep=sleeps, **extra)
        made.append(sender)
        return Rig(sender, queue, sleeps)

    yield make
    for sender in made:
        await sender.close()


async def run_until_empty(rig: Rig, timeout: float = 10.0) -> None:
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(timeout):
            while len(rig.queue):
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def stats(sender: Sender) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    return {(metric, labels): value for metric, labels, value in sender.stats_rows()}


async def test_204_delivers_with_the_right_headers(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(collector.url, token="s3cret")
    rig.sender.submit(frame(seq=5))
    await rig.sender.deliver_head()
    assert len(rig.queue) == 0
    headers, _ = collector.requests[0]
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Authorization"] == "Bearer s3cret"
    assert "Content-Encoding" not in headers
    assert collector.frames() == [frame(seq=5)]
    assert rig.sender.frames_sent == 1
    assert rig.sleeps.waits == []


async def test_gzip_body_and_no_token_header_without_a_token(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(collector.url, compression="gzip")
    rig.sender.submit(frame())
    await rig.sender.deliver_head()
    headers, _ = collector.requests[0]
    assert headers["Content-Encoding"] == "gzip"
    assert "Authorization" not in headers
    assert collector.frames() == [frame()]  # the test server inflates gzip bodies


async def test_422_drops_the_frame_counts_and_logs_the_reason(
    collector: FakeCollector, make_sender: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    collector.script = [(422, {}, '{"status":"error","error":"unknown metric node_foo"}')]
    rig = make_sender(collector.url)
    rig.sender.submit(frame(seq=1, samples=4))
    rig.sender.submit(frame(seq=2))
    with caplog.at_level(logging.ERROR, logger="agent.sender"):
        await run_until_empty(rig)
    assert [f.seq for f in collector.frames()] == [1, 2]  # the bad one is not retried
    assert rig.sender.rejected_samples == 4
    counters = stats(rig.sender)
    assert counters[("hostvitals_agent_dropped_samples_total", (("reason", "rejected"),))] == 4
    assert counters[("hostvitals_agent_frames_sent_total", ())] == 1
    assert "unknown metric node_foo" in caplog.text and "422" in caplog.text
    assert rig.sleeps.waits == []


async def test_503_with_retry_after_waits_that_long_then_delivers(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(503, {"Retry-After": "7"}, "storage unavailable")]
    rig = make_sender(collector.url)
    rig.sender.submit(frame())
    await run_until_empty(rig)
    assert rig.sleeps.waits == [7.0]
    assert len(collector.requests) == 2
    assert rig.sender.send_errors()["throttled"] == 1
    assert rig.sender.frames_sent == 1


async def test_500_then_204_backs_off_with_jitter_then_delivers(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(500, {}, "boom"), (500, {}, "boom"), (500, {}, "boom")]
    rig = make_sender(collector.url, backoff_initial_s=1.0, backoff_max_s=60.0)
    rig.sender.submit(frame())
    await run_until_empty(rig)
    assert len(rig.sleeps.waits) == 3
    # full jitter: each wait is drawn from [0, 1 * 2**n], capped
    for attempt, wait in enumerate(rig.sleeps.waits):
        assert 0.0 <= wait <= 2.0**attempt
    assert rig.sender.send_errors()["server"] == 3
    assert rig.sender.frames_sent == 1


async def test_backoff_is_capped(collector: FakeCollector, make_sender: Callable[..., Rig]) -> None:
    collector.script = [(502, {}, "")] * 12
    rig = make_sender(collector.url, backoff_initial_s=1.0, backoff_max_s=4.0)
    rig.sender.submit(frame())
    await run_until_empty(rig)
    assert len(rig.sleeps.waits) == 12
    assert max(rig.sleeps.waits) <= 4.0


async def test_401_keeps_the_frame_and_backs_off(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(401, {}, "bad token"), (403, {}, "bad token")]
    rig = make_sender(collector.url, token="old")
    rig.sender.submit(frame())
    await run_until_empty(rig)
    assert len(rig.sleeps.waits) == 2
    assert rig.sender.send_errors()["unauthorized"] == 2
    assert rig.sender.frames_sent == 1
    assert rig.sender.rejected_samples == 0


async def test_fails_over_to_the_next_collector_and_returns_to_the_first(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    now = [0.0]
    rig = make_sender(collector.url, collector.url + "/", clock=lambda: now[0])
    # first URL answers 500 for the first frame; the second URL (same server) takes it
    collector.script = [(500, {}, "down"), (204, {}, ""), (204, {}, "")]
    rig.sender.submit(frame(seq=1))
    await rig.sender.deliver_head()
    assert len(collector.requests) == 2 and len(rig.queue) == 0
    # the next frame goes straight to the second one: no request to the first
    rig.sender.submit(frame(seq=2))
    await rig.sender.deliver_head()
    assert len(collector.requests) == 3
    # after the recheck period the first one is tried again and, healthy, used again
    now[0] = 31.0
    rig.sender.submit(frame(seq=3))
    rig.sender.submit(frame(seq=4))
    await rig.sender.deliver_head()
    await rig.sender.deliver_head()
    assert len(collector.requests) == 5
    assert rig.sender.frames_sent == 4
    assert rig.sleeps.waits == []


async def test_connection_refused_moves_on_to_the_next_collector(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(closed_port_url(), collector.url)
    rig.sender.submit(frame())
    await rig.sender.deliver_head()
    assert rig.sender.frames_sent == 1
    assert rig.sender.send_errors()["connection"] == 1


async def test_drain_is_one_bounded_attempt(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    down = make_sender(closed_port_url())
    down.sender.submit(frame())
    assert await down.sender.drain(5.0) is False
    assert len(down.queue) == 1 and down.sleeps.waits == []

    up = make_sender(collector.url)
    for seq in range(3):
        up.sender.submit(frame(seq=seq))
    assert await up.sender.drain(5.0) is True
    assert [f.seq for f in collector.frames()] == [0, 1, 2]


async def test_a_full_queue_drops_the_oldest_and_reports_it(
    make_sender: Callable[..., Rig],
) -> None:
    rig = make_sender(closed_port_url(), queue_bytes=300)
    for seq in range(5):
        rig.sender.submit(frame(seq=seq, samples=2))
    counters = stats(rig.sender)
    dropped = counters[("hostvitals_agent_dropped_samples_total", (("reason", "queue_full"),))]
    assert dropped == rig.queue.dropped_samples > 0
    assert counters[("hostvitals_agent_spool_frames", ())] == len(rig.queue) < 5
    assert counters[("hostvitals_agent_spool_bytes", ())] == rig.queue.size_bytes <= 300


async def test_a_collector_that_does_not_answer_in_time_counts_as_timeout(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(0, {}, "")]  # 0: answer late
    rig = make_sender(collector.url, request_timeout_s=0.1)
    rig.sender.submit(frame())
    await run_until_empty(rig)
    assert rig.sender.send_errors()["timeout"] == 1
    assert len(rig.sleeps.waits) == 1
    assert rig.sender.frames_sent == 1
