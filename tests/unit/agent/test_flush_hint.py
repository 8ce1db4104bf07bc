"""Flushing every tick while the collector asks for it, and back to flush_interval after.

``FlushHint`` alone with a fake clock (bounds, validity, garbled values), then the whole agent
with scripted ticks against a local HTTP server that scripts the answer header.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hostvitals.agent.app import Agent
from hostvitals.agent.config import load_config
from hostvitals.agent.flushhint import FlushHint, parse_flush_interval
from hostvitals.agent.state import StateStore
from hostvitals.shared.codec import decode_frame
from hostvitals.shared.protocol import FLUSH_INTERVAL_HEADER


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_that_asks_holds_until_a_newer_one_or_its_validity_ends() -> None:
    clock = Clock()
    hint = FlushHint(valid_s=15.0, clock=clock)
    assert hint.period(1.0, 10.0) is None
    hint.heard("1")
    assert hint.period(1.0, 10.0) == 1.0
    clock.now += 15.0
    assert hint.period(1.0, 10.0) == 1.0
    clock.now += 0.1  # the collector went quiet: back to flush_interval
    assert hint.period(1.0, 10.0) is None
    hint.heard("2")
    assert hint.period(1.0, 10.0) == 2.0
    hint.heard(None)  # an answer that does not ask ends it at once
    assert hint.period(1.0, 10.0) is None


def test_the_asked_period_stays_within_the_interval_and_flush_interval() -> None:
    hint = FlushHint(clock=Clock())
    hint.heard("0.25")
    assert hint.period(1.0, 10.0) == 1.0
    hint.heard("3600")
    assert hint.period(1.0, 10.0) == 10.0
    hint.heard(" 5 ")
    assert hint.period(2.0, 30.0) == 5.0


@pytest.mark.parametrize("value", ["", "soon", "-1", "0", "nan", "inf", "1,5", "\uff11"])
def test_a_garbled_value_asks_nothing(value: str) -> None:
    assert parse_flush_interval(value) is None


def test_garbled_values_are_ignored_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hint = FlushHint(clock=Clock())
    hint.heard("1")
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.flushhint"):
        hint.heard("soon")
        hint.heard("never")
    assert hint.period(1.0, 10.0) is None
    assert hint.ignored == 2
    assert hint.rows() == [("hostvitals_agent_flush_hints_ignored_total", (), 2)]
    assert len([r for r in caplog.records if FLUSH_INTERVAL_HEADER in r.getMessage()]) == 1


class ScriptedTicker:
    """Ticks when the test says so."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.skipped = 0

    async def wait(self) -> int:
        return await self.queue.get()


class Collector:
    """Answers 204, with ``Hostvitals-Flush-Interval: asking`` unless ``asking`` is None."""

    def __init__(self) -> None:
        self.asking: str | None = None
        self.ticks_per_frame: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        frame = decode_frame(await request.read())
        self.ticks_per_frame.append(len(frame.timestamps_ms))
        headers = {} if self.asking is None else {FLUSH_INTERVAL_HEADER: self.asking}
        return web.Response(status=204, headers=headers)


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    sink = Collector()
    app = web.Application()
    app.router.add_post("/api/v1/ingest", sink.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield sink, str(server.make_url("")).rstrip("/")
    await server.close()


async def until(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(20):
        while not check():
            await asyncio.sleep(0.01)


class Driven:
    """An agent whose ticks the test gives one at a time."""

    T0 = 1_764_000_000_000

    def __init__(self, agent: Agent, ticker: ScriptedTicker) -> None:
        self.agent = agent
        self.ticker = ticker
        self.n = 0

    async def ticks(self, count: int, frames_after: int) -> None:
        """Take ``count`` ticks; wait until the collector answered ``frames_after`` frames."""
        for _ in range(count):
            taken = self.agent.batcher.ticks
            sent = self.agent.sender.frames_sent
            await self.ticker.queue.put(self.T0 + 1000 * self.n)
            self.n += 1
            await until(
                lambda t=taken, s=sent: (
                    self.agent.batcher.ticks != t or self.agent.sender.frames_sent != s
                ),
                "the tick",
            )
        await until(lambda: self.agent.sender.frames_sent >= frames_after, "the answers")


@pytest.fixture
async def driven(
    request: pytest.FixtureRequest, tmp_path: Path, collector: tuple[Collector, str]
) -> AsyncIterator[Driven]:
    _, url = collector
    environ = {
        "HOSTVITALS_AGENT_COLLECTOR_URLS": url,
        "HOSTVITALS_AGENT_COMPRESSION": "none",
        "HOSTVITALS_AGENT_HOST": "fast-test",
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "10",
        "HOSTVITALS_AGENT_FAST_FLUSH": getattr(request, "param", "true"),
    }
    for sampler in ("processes", "filesystem", "disk", "network"):
        environ[f"HOSTVITALS_AGENT_SAMPLERS__{sampler.upper()}__ENABLED"] = "false"
    config = load_config(environ=environ)
    ticker = ScriptedTicker()
    stop = asyncio.Event()
    with StateStore(tmp_path) as state:
        agent = Agent(config, state, ticker=ticker)  # type: ignore[arg-type]
        running = asyncio.create_task(agent.run(stop))
        try:
            yield Driven(agent, ticker)
        finally:
            stop.set()
            await running


async def test_the_agent_flushes_every_tick_while_answers_ask_and_returns_after(
    collector: tuple[Collector, str], driven: Driven
) -> None:
    sink, _ = collector
    sink.asking = "1"
    await driven.ticks(10, frames_after=1)  # the usual frame; its answer asks
    assert driven.agent.batcher.flush_interval_s == 10.0
    await driven.ticks(3, frames_after=4)
    assert sink.ticks_per_frame == [10, 1, 1, 1]
    sink.asking = None  # nobody watches any more
    await driven.ticks(1, frames_after=5)
    await driven.ticks(10, frames_after=6)
    assert sink.ticks_per_frame == [10, 1, 1, 1, 1, 10]
    sink.asking = "garbled"
    await driven.ticks(10, frames_after=7)
    await driven.ticks(10, frames_after=8)
    assert sink.ticks_per_frame[-2:] == [10, 10]
    assert driven.agent.sender.flush_hint.ignored == 2


@pytest.mark.parametrize("driven", ["false"], indirect=True)
async def test_an_agent_told_not_to_follow_keeps_its_flush_interval(
    collector: tuple[Collector, str], driven: Driven
) -> None:
    sink, _ = collector
    sink.asking = "1"
    await driven.ticks(10, frames_after=1)
    await driven.ticks(10, frames_after=2)
    assert sink.ticks_per_frame == [10, 10]
