"""The sender against a real local HTTP server (aiohttp's test server on 127.0.0.1) and a real
spool in a temporary directory."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hostvitals.agent.config import DeliveryConfig, SpoolConfig
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.sender import Sender, Tuning
from hostvitals.agent.spool import RecordId
from hostvitals.shared.codec import decode_frame, encode_frame
from hostvitals.shared.protocol import CONTENT_TYPE, Frame, Series


@dataclass
class FakeCollector:
    """Answers ingest requests from a script; 204 once the script is used up."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        status, headers, text = self.script.pop(0) if self.script else (204, {}, "")
        if status <= 0:  # answered 0.5 s late (0: with 204, -500: with 500)
            await asyncio.sleep(0.5)
            status = -status or 204
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
    outbox: Outbox
    sleeps: Sleeps

    def submit(self, item: Frame) -> None:
        """What the agent does with a closed frame: spool it, then offer it to the sender."""
        data = encode_frame(item)
        record_id = self.outbox.append_now(data, item.sample_count())
        assert record_id is not None
        self.sender.offer(record_id, data, item.sample_count())

    def spool(self, item: Frame) -> None:
        """A frame left in the spool by an earlier run (the backlog lane sends it)."""
        self.outbox.append_now(encode_frame(item), item.sample_count())

    @property
    def pending(self) -> int:
        return self.outbox.counts().pending_frames


@pytest.fixture
async def make_sender(tmp_path: Path) -> AsyncIterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(
        *urls: str,
        clock: Callable[[], float] | None = None,
        spool_bytes: int = 1 << 20,
        sleep: Callable[[float], Any] | None = None,
        **settings: Any,
    ) -> Rig:
        settings.setdefault("compression", "none")
        settings.setdefault("catchup_jitter", 0.0)
        tuned = {item.name for item in fields(Tuning)}
        tuning = {name: settings.pop(name) for name in tuned & settings.keys()}
        outbox = Outbox(tmp_path / f"spool-{len(made)}", SpoolConfig(max_bytes=spool_bytes))
        sleeps = Sleeps()
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        sender = Sender(
            DeliveryConfig(collector_urls=urls, **settings),
            outbox,
            tuning=Tuning(**tuning),
            sleep=sleep or sleeps,
            rng=random.Random(7),
            **extra,
        )
        rig = Rig(sender, outbox, sleeps)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        await rig.sender.close()
        rig.outbox.close()


async def run_until_empty(rig: Rig, timeout: float = 10.0) -> None:
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(timeout):
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def stats(sender: Sender) -> dict[tuple[str, tuple[tuple[str, str], ...]], Any]:
    return {(metric, labels): value for metric, labels, value in sender.stats_rows()}


async def test_204_delivers_with_the_right_headers_and_empties_the_spool(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(collector.url, token="s3cret")
    rig.submit(frame(seq=5))
    assert rig.pending == 1  # on disk before any attempt
    await run_until_empty(rig)
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
    rig.submit(frame())
    await run_until_empty(rig)
    headers, _ = collector.requests[0]
    assert headers["Content-Encoding"] == "gzip"
    assert "Authorization" not in headers
    assert collector.frames() == [frame()]  # the test server inflates gzip bodies


async def test_422_drops_the_frame_counts_and_logs_the_reason(
    collector: FakeCollector, make_sender: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    collector.script = [(422, {}, '{"status":"error","error":"unknown metric node_foo"}')]
    rig = make_sender(collector.url)
    rig.submit(frame(seq=1, samples=4))
    rig.submit(frame(seq=2))
    with caplog.at_level(logging.ERROR, logger="hostvitals.agent.sender"):
        await run_until_empty(rig)
    assert [f.seq for f in collector.frames()] == [1, 2]  # the bad one is not retried
    assert rig.sender.rejected_samples == 4
    counters = stats(rig.sender)
    assert counters[("hostvitals_agent_dropped_samples_total", (("reason", "rejected"),))] == 4
    assert counters[("hostvitals_agent_frames_sent_total", ())] == 1
    assert "unknown metric node_foo" in caplog.text and "422" in caplog.text
    assert rig.sleeps.waits == []


@pytest.mark.parametrize("status", [400, 413, 415, 422])
async def test_frames_the_collector_can_never_take_are_dropped_not_retried(
    status: int, collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(status, {}, "no")]
    rig = make_sender(collector.url)
    rig.submit(frame(seq=1, samples=2))
    await run_until_empty(rig)
    assert len(collector.requests) == 1
    assert rig.sender.rejected_samples == 2


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_with_retry_after_waits_that_long_then_delivers(
    status: int, collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(status, {"Retry-After": "7"}, "slow down")]
    rig = make_sender(collector.url)
    rig.submit(frame())
    await run_until_empty(rig)
    assert rig.sleeps.waits == [7.0]
    assert len(collector.requests) == 2
    assert rig.sender.send_errors()["throttled"] == 1
    assert rig.sender.frames_sent == 1


async def test_retry_after_as_an_http_date_and_without_a_header(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [
        (503, {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, ""),  # in the past: at once
        (429, {}, ""),  # no header: exponential backoff
    ]
    rig = make_sender(collector.url, backoff_initial_s=1.0)
    rig.submit(frame())
    await run_until_empty(rig)
    assert rig.sleeps.waits[0] == pytest.approx(0.1)  # the floor, so a loop cannot spin
    assert 0.0 <= rig.sleeps.waits[1] <= 2.0
    assert rig.sender.frames_sent == 1


async def test_500_then_204_backs_off_with_jitter_then_delivers(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(500, {}, "boom"), (500, {}, "boom"), (500, {}, "boom")]
    rig = make_sender(collector.url, backoff_initial_s=1.0, retry_backoff_max=60.0)
    rig.submit(frame())
    await run_until_empty(rig)
    assert len(rig.sleeps.waits) == 3
    # full jitter: each wait is drawn from [0, 1 * 2**n], capped
    for attempt, wait in enumerate(rig.sleeps.waits):
        assert 0.0 <= wait <= 2.0**attempt
    assert rig.sender.send_errors()["server"] == 3
    assert rig.sender.frames_sent == 1


async def test_backoff_is_capped(collector: FakeCollector, make_sender: Callable[..., Rig]) -> None:
    collector.script = [(502, {}, "")] * 12
    rig = make_sender(collector.url, backoff_initial_s=1.0, retry_backoff_max=4.0)
    rig.submit(frame())
    await run_until_empty(rig)
    assert len(rig.sleeps.waits) == 12
    assert max(rig.sleeps.waits) <= 4.0


async def test_401_keeps_the_frame_and_backs_off(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(401, {}, "bad token"), (403, {}, "bad token")]
    rig = make_sender(collector.url, token="old")
    rig.submit(frame())
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
    rig.submit(frame(seq=1))
    await run_until_empty(rig)
    assert len(collector.requests) == 2
    # the next frame goes straight to the second one: no request to the first
    rig.submit(frame(seq=2))
    await run_until_empty(rig)
    assert len(collector.requests) == 3
    # after the recheck period the first one is tried again and, healthy, used again
    now[0] = 31.0
    collector.script = [(204, {}, ""), (204, {}, "")]
    rig.submit(frame(seq=3))
    rig.submit(frame(seq=4))
    await run_until_empty(rig)
    assert len(collector.requests) == 5
    assert rig.sender.frames_sent == 4
    assert rig.sleeps.waits == []


async def test_connection_refused_moves_on_to_the_next_collector(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(closed_port_url(), collector.url)
    rig.submit(frame())
    await run_until_empty(rig)
    assert rig.sender.frames_sent == 1
    assert rig.sender.send_errors()["connection"] == 1


async def test_drain_is_one_bounded_attempt(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    down = make_sender(closed_port_url())
    down.submit(frame())
    assert await down.sender.drain(5.0) is False
    assert down.pending == 1 and down.sleeps.waits == []

    up = make_sender(collector.url)
    for seq in range(3):
        up.submit(frame(seq=seq))
    assert await up.sender.drain(5.0) is True
    assert [f.seq for f in collector.frames()] == [0, 1, 2]
    assert up.pending == 0  # acknowledged in the spool too


async def test_a_full_spool_drops_the_oldest_and_counts_every_sample(
    make_sender: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    one = len(encode_frame(frame(samples=2))) + 28
    rig = make_sender(closed_port_url(), spool_bytes=max(3 * one, 65536))
    big = frame(samples=400)
    size = len(encode_frame(big)) + 28
    fits = rig.outbox.counts()  # empty
    assert fits.pending_frames == 0
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.outbox"):
        for seq in range(2 * 65536 // size + 2):
            rig.submit(frame(seq=seq, samples=400))
    counters = stats(rig.sender)
    pending = counters[("hostvitals_agent_spool_frames", ())]
    submitted = 2 * 65536 // size + 2
    dropped = counters[("hostvitals_agent_dropped_samples_total", (("reason", "spool_full"),))]
    assert dropped == (submitted - pending) * 400 > 0
    assert counters[("hostvitals_agent_spool_bytes", ())] <= 65536
    assert caplog.text.count("is full") == 1  # once a minute, not once per drop


async def test_frames_the_spool_drops_after_they_went_out_are_not_counted_as_dropped(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    """The backlog's oldest frame is on its way (answered 0.5 s late) and a newer one was
    delivered by the fresh lane but not acknowledged yet, when the spool overflows and drops
    both: the collector has them, so only the frames it never got count as dropped.
    """
    collector.script = [(0, {}, "")]
    rig = make_sender(collector.url, spool_bytes=65536)
    size = len(encode_frame(frame(samples=400))) + 28
    rig.spool(frame(seq=0, samples=400))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while not collector.requests:
                await asyncio.sleep(0.01)
            rig.submit(frame(seq=1, samples=400))
            while rig.sender.frames_sent < 1:
                await asyncio.sleep(0.01)
            assert rig.pending == 2  # seq 1 waits for seq 0 to be acknowledged first
            spooled = 65536 // size + 1
            for seq in range(2, 2 + spooled):
                rig.spool(frame(seq=seq, samples=400))
            assert rig.pending < spooled + 2  # the spool dropped its oldest frames
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    received = {f.seq for f in collector.frames()}
    assert {0, 1} <= received
    never = set(range(2 + spooled)) - received
    assert never  # the overflow cost frames that nothing was sending
    counters = stats(rig.sender)
    dropped = counters[("hostvitals_agent_dropped_samples_total", (("reason", "spool_full"),))]
    assert dropped == 400 * len(never)


@pytest.mark.parametrize(
    ("answer", "sent", "full", "rejected"),
    [(0, [0], 0, 0), (-422, [0], 0, 400), (-500, [0], 400, 0)],
    ids=["taken", "rejected", "failed"],
)
async def test_a_frame_dropped_on_its_way_counts_by_how_its_round_ended(
    collector: FakeCollector,
    make_sender: Callable[..., Rig],
    answer: int,
    sent: list[int],
    full: int,
    rejected: int,
) -> None:
    """Taken: not dropped. Rejected: dropped by the collector, not by the spool. Failed: lost
    to the full spool, once, and not sent again.
    """
    collector.script = [(answer, {}, "")]  # answered 0.5 s late
    rig = make_sender(collector.url, spool_bytes=65536)
    per_spool = 65536 // (len(encode_frame(frame(samples=400))) + 28)
    rig.spool(frame(seq=0, samples=400))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while not collector.requests:
                await asyncio.sleep(0.01)
            for seq in range(1, 1 + per_spool):
                rig.spool(frame(seq=seq, samples=400))
            assert rig.pending == per_spool  # seq 0 was dropped on its way
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    seqs = [f.seq for f in collector.frames()]
    assert [s for s in seqs if s == 0] == sent
    assert sorted(set(seqs) - {0}) == list(range(1, 1 + per_spool))
    counters = stats(rig.sender)
    drops = {
        labels[0][1]: value
        for (metric, labels), value in counters.items()
        if metric == "hostvitals_agent_dropped_samples_total"
    }
    assert drops == {"spool_full": full, "rejected": rejected, "expired": 0, "disk_full": 0}


async def test_a_collector_that_does_not_answer_in_time_counts_as_timeout(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(0, {}, "")]  # 0: answer late
    rig = make_sender(collector.url, request_timeout=0.1)
    rig.submit(frame())
    await run_until_empty(rig)
    assert rig.sender.send_errors()["timeout"] == 1
    assert len(rig.sleeps.waits) == 1
    assert rig.sender.frames_sent == 1


async def test_a_backlog_goes_out_oldest_first_after_a_jittered_start(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(collector.url, catchup_jitter=30.0)
    for seq in range(10):
        rig.spool(frame(seq=seq))
    await run_until_empty(rig)
    assert [f.seq for f in collector.frames()] == list(range(10))
    jitter = rig.sleeps.waits[0]
    assert 0.0 <= jitter <= 30.0
    assert jitter == random.Random(7).uniform(0, 30.0)


async def test_fresh_frames_are_not_stuck_behind_the_backlog(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    # real sleeps: the backlog is paced at 20 frames/s, so 30 frames take about 1.5 s
    rig = make_sender(collector.url, catchup_rate=20.0, sleep=asyncio.sleep)
    for seq in range(30):
        rig.spool(frame(seq=seq))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while len(collector.requests) < 3:
                await asyncio.sleep(0.01)
            rig.submit(frame(seq=100))
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    seqs = [f.seq for f in collector.frames()]
    assert sorted(seqs) == [*range(30), 100]  # each frame exactly once
    assert seqs.index(100) < seqs.index(29)  # the fresh one did not wait for the backlog
    backlog = [s for s in seqs if s != 100]
    assert backlog == sorted(backlog)


async def test_throttling_halves_the_catch_up_rate_which_then_recovers(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(429, {"Retry-After": "1"}, ""), (429, {"Retry-After": "1"}, "")]
    rig = make_sender(collector.url, catchup_rate=16.0)
    for seq in range(3):
        rig.spool(frame(seq=seq))
    task = asyncio.create_task(rig.sender.run())
    rates: list[float] = []
    try:
        async with asyncio.timeout(10):
            while rig.pending:
                rates.append(rig.sender.catchup_rate)
                await asyncio.sleep(0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert min(rates) == 4.0  # halved twice
    assert rig.sender.catchup_rate > 4.0  # and climbing again as frames went through
    assert [f.seq for f in collector.frames()] == [0, 0, 0, 1, 2]


async def test_when_the_fresh_lane_is_full_the_oldest_frame_falls_back_to_the_backlog(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    rig = make_sender(collector.url, fresh_frames=2)
    for seq in range(5):
        rig.submit(frame(seq=seq))
    await run_until_empty(rig)
    assert sorted(f.seq for f in collector.frames()) == [0, 1, 2, 3, 4]
    assert len(collector.requests) == 5  # none sent twice


async def test_the_collector_coming_back_wakes_the_backlog_early(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    # the backlog lane is in a long backoff when the fresh lane gets through
    collector.script = [(500, {}, "")]
    waits: list[float] = []
    never = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if seconds > 5:  # a long backoff: only the fresh lane's success ends it
            await never.wait()
        await asyncio.sleep(0)

    rig = make_sender(collector.url, sleep=sleep, backoff_initial_s=100.0, retry_backoff_max=100.0)
    rig.spool(frame(seq=1))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while not collector.requests:
                await asyncio.sleep(0.01)
            rig.submit(frame(seq=2))
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(f.seq for f in collector.frames()) == [1, 1, 2]


async def test_a_frame_on_its_way_when_the_sender_stops_is_not_sent_again(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    # the collector takes the frame at once and answers 0.5 s later; the agent stops between
    collector.script = [(0, {}, "")]
    rig = make_sender(collector.url)
    rig.submit(frame(seq=4))
    task = asyncio.create_task(rig.sender.run())
    async with asyncio.timeout(5):
        while not collector.requests:
            await asyncio.sleep(0.01)
    task.cancel()  # SIGTERM: the agent cancels the lanes, then drains
    await asyncio.gather(task, return_exceptions=True)
    assert await rig.sender.drain(5.0) is True
    assert [f.seq for f in collector.frames()] == [4]  # its answer was awaited, not resent
    assert rig.pending == 0
    assert rig.sender.frames_sent == 1


async def test_a_frame_on_its_way_is_not_sent_by_the_backlog_too_when_it_falls_back(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(0, {}, "")]  # the first frame is answered 0.5 s late
    rig = make_sender(collector.url, fresh_frames=1)
    rig.submit(frame(seq=1))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while not collector.requests:
                await asyncio.sleep(0.01)
            rig.submit(frame(seq=2))  # seq 1 falls back to the backlog while on its way
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(f.seq for f in collector.frames()) == [1, 2]


async def test_a_frame_that_fell_back_on_its_way_goes_to_the_backlog_when_its_round_fails(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(-500, {}, "")]  # the first frame fails, 0.5 s late
    rig = make_sender(collector.url, fresh_frames=1)
    rig.submit(frame(seq=1))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while not collector.requests:
                await asyncio.sleep(0.01)
            rig.submit(frame(seq=2))
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(f.seq for f in collector.frames()) == [1, 1, 2]
    assert rig.sender.frames_sent == 2


async def test_a_frame_on_its_way_at_a_reload_is_not_sent_again(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(0, {}, "")]  # taken at once, answered 0.5 s later
    rig = make_sender(collector.url, token="old")
    rig.submit(frame(seq=7))
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while not collector.requests:
                await asyncio.sleep(0.01)
            rig.sender.reconfigure(replace(rig.sender.config, token="new"))
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [f.seq for f in collector.frames()] == [7]
    assert rig.sender.send_errors()["connection"] == 0


async def test_a_frame_retried_across_a_compression_change_is_encoded_as_its_headers_say(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    collector.script = [(500, {}, "")]
    retried = asyncio.Event()
    reloaded = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if collector.requests and not reloaded.is_set():
            retried.set()  # the backoff after the first attempt: wait for the reload
            await reloaded.wait()
        await asyncio.sleep(0)

    rig = make_sender(collector.url, compression="gzip", sleep=sleep)
    rig.spool(frame(seq=3))  # the backlog lane sends it
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            await retried.wait()
            rig.sender.reconfigure(replace(rig.sender.config, compression="none"))
            reloaded.set()
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    headers, _ = collector.requests[-1]
    assert "Content-Encoding" not in headers
    assert [f.seq for f in collector.frames()] == [3, 3]
    assert rig.sender.rejected_samples == 0


async def test_a_frame_at_a_time_is_acknowledged_by_its_own_round(
    collector: FakeCollector, make_sender: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While someone watches, a frame goes out every tick: the round that delivers it, being
    the oldest in the spool, acknowledges it in the same worker-thread trip, so the backlog
    lane never wakes to read the spool back (one look at the start, finding it empty)."""
    rig = make_sender(collector.url)
    calls = {"peek": 0, "ack": 0, "settle_now": 0}
    for name in ("peek", "ack"):
        method = getattr(rig.outbox, name)

        async def counted(*args: Any, _method: Any = method, _name: str = name) -> Any:
            calls[_name] += 1
            return await _method(*args)

        monkeypatch.setattr(rig.outbox, name, counted)
    settle = rig.outbox.settle_now

    def settle_counted(record_id: RecordId) -> bool:
        calls["settle_now"] += 1
        return settle(record_id)

    monkeypatch.setattr(rig.outbox, "settle_now", settle_counted)
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            for seq in range(6):
                rig.submit(frame(seq=seq))
                while rig.pending or calls["settle_now"] <= seq:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)  # time for any further look at the spool
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [f.seq for f in collector.frames()] == list(range(6))
    assert calls == {"peek": 1, "ack": 0, "settle_now": 6}


async def test_a_frame_behind_an_older_one_is_acknowledged_in_order(
    collector: FakeCollector, make_sender: Callable[..., Rig]
) -> None:
    """A fresh frame delivered while an older record is still in the spool is not
    acknowledged by its round (that would consume the older one unsent): the backlog lane
    sends the older one and acknowledges both, in order."""
    rig = make_sender(collector.url)
    older = rig.outbox.append_now(encode_frame(frame(seq=0)), 1)  # left by a previous run
    assert older is not None
    rig.submit(frame(seq=1))
    assert rig.pending == 2
    task = asyncio.create_task(rig.sender.run())
    try:
        async with asyncio.timeout(10):
            while rig.pending:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(f.seq for f in collector.frames()) == [0, 1]
