"""The simulated fleet of the ingest benchmark: frames as agents build them, and open-loop
load (each request sent when it is due, whatever the answers so far).

``drive`` sends frames at a fixed rate of samples; ``fleet_at_one_second`` replays what a fleet
sampling every second sends over some seconds while part of it is watched: the watched agents
send a frame of one tick every tick, the others a frame of ten ticks every ten seconds, and
every agent ticks on the same wall-clock second (spread by how long sampling takes).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from common import Meter

from hostvitals.shared.protocol import FLUSH_INTERVAL_HEADER, Frame, Series
from tests.support.frames import catalogue_series

TICKS = 10


def fleet_series(count: int, ticks: int = TICKS) -> list[Series]:
    """``count`` catalogue series with the agent's label sets (extra NICs beyond 88)."""
    series = catalogue_series(ticks)
    extra = itertools.count()
    while len(series) < count:
        device = f"veth{next(extra)}"
        for metric in ("node_network_receive_bytes_total", "node_network_transmit_bytes_total"):
            series.append(Series(metric, {"device": device}, [float(i) for i in range(ticks)]))
    return series[:count]


@dataclass
class Fleet:
    agents: int
    series: int
    _templates: dict[int, list[Series]] = field(default_factory=dict, init=False)
    _seq: dict[int, int] = field(default_factory=dict, init=False)

    @property
    def samples_per_frame(self) -> int:
        return self.series * TICKS

    def frame(self, n: int) -> Frame:
        """Frame ``n`` of the fixed-rate runs: agent ``n % agents``, ten ticks ending now."""
        return self.agent_frame(n % self.agents, TICKS, int(time.time() * 1000))

    def agent_frame(self, agent: int, ticks: int, end_ms: int) -> Frame:
        """The next frame of ``agent``: ``ticks`` ticks one second apart, the last at
        ``end_ms``."""
        seq = self._seq[agent] = self._seq.get(agent, -1) + 1
        templates = self._templates.get(ticks)
        if templates is None:
            templates = self._templates[ticks] = fleet_series(self.series, ticks)
        return Frame(
            agent_id=f"bench-{agent}",
            host=f"bench-host-{agent}",
            seq=seq,
            sent_at_ms=end_ms,
            interval_s=1.0,
            timestamps_ms=[end_ms - 1000 * (ticks - 1 - i) for i in range(ticks)],
            series=templates,
        )


BodyMaker = Callable[[int], tuple[bytes, dict[str, str]]]


@dataclass
class Result:
    name: str
    samples: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    started_at: float = 0.0  # Unix seconds

    @property
    def rate(self) -> float:
        return self.samples / self.elapsed if self.elapsed else 0.0


async def drive(
    name: str,
    url_for: Callable[[int], str],
    make_body: BodyMaker,
    samples_per_request: int,
    rate: float,
    bodies: range,
    concurrency: int,
) -> Result:
    """Open loop: the i-th request (body ``bodies[i]``) is due at i / (rate / samples) s;
    at most ``concurrency`` open."""
    result = Result(name, started_at=time.time())
    per_s = rate / samples_per_request
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            body, headers = make_body(n)
            try:
                started = time.perf_counter()
                async with session.post(url_for(n), data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status < 300
                result.latencies.append(time.perf_counter() - started)
                if ok:
                    result.samples += samples_per_request
                else:
                    result.errors += 1
            except aiohttp.ClientError:
                result.errors += 1
            finally:
                slots.release()

        tasks = []
        start = time.perf_counter()
        for i, n in enumerate(bodies):
            delay = start + i / per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - start
    return result


async def measured(
    meter: Meter,
    name: str,
    url_for: Callable[[int], str],
    make_body: BodyMaker,
    samples_per_request: int,
    args: argparse.Namespace,
    bodies: range,
) -> Result:
    """``drive`` while reading the receiver's CPU and RSS once a second."""

    async def sample() -> None:
        while True:
            meter.read()
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    try:
        return await drive(
            name, url_for, make_body, samples_per_request, args.rate, bodies, args.concurrency
        )
    finally:
        sampler.cancel()
        meter.read()


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


@dataclass
class Watched:
    """One run of ``fleet_at_one_second``."""

    watched: int
    page: bool = False
    """Whether a client polled the fleet page meanwhile."""
    requests: int = 0
    samples: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    """From sending to the answer."""
    delays: list[float] = field(default_factory=list)
    """From when the frame was due (its tick sampled) to the answer."""
    asked: set[int] = field(default_factory=set)
    """Agents whose answer asked them to flush every tick."""
    elapsed: float = 0.0


Encoder = Callable[[Frame], bytes]


def one_second_fleet(
    fleet: Fleet, watched: int, seconds: int, spread_s: float, encode: Encoder, seed: int = 1
) -> list[tuple[float, int, bytes, int]]:
    """What the fleet sends in ``seconds``, as (due offset s, agent, body, samples), by due
    time. Agents below ``watched`` send every tick; the others every ten ticks, at a phase
    of their own (when each started)."""
    rng = random.Random(seed)
    start_ms = (int(time.time()) + 1) * 1000
    plan: list[tuple[float, int, bytes, int]] = []
    for agent in range(fleet.agents):
        ticks, first = (1, 0) if agent < watched else (TICKS, rng.randrange(TICKS))
        for second in range(first, seconds, ticks):
            frame = fleet.agent_frame(agent, ticks, start_ms + 1000 * second)
            due = second + rng.uniform(0.0, spread_s)
            plan.append((due, agent, encode(frame), fleet.series * ticks))
    plan.sort(key=lambda item: item[0])
    return plan


async def fleet_at_one_second(
    plan: list[tuple[float, int, bytes, int]],
    watched: int,
    url_for: Callable[[int], str],
    headers: dict[str, str],
    concurrency: int,
    watcher_url: str | None,
) -> Watched:
    """Send ``plan`` open loop; meanwhile, with ``watcher_url``, poll it once a second as the
    fleet page does."""
    result = Watched(watched, page=watcher_url is not None)
    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency + 1)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(due: float, agent: int, body: bytes, samples: int) -> None:
            try:
                started = time.perf_counter()
                async with session.post(url_for(agent), data=body, headers=headers) as answer:
                    await answer.read()
                    ok = answer.status < 300
                    if FLUSH_INTERVAL_HEADER in answer.headers:
                        result.asked.add(agent)
                done = time.perf_counter()
                result.latencies.append(done - started)
                result.delays.append(done - due)
                result.requests += 1
                if ok:
                    result.samples += samples
                else:
                    result.errors += 1
            except aiohttp.ClientError:
                result.errors += 1
            finally:
                slots.release()

        async def watch() -> None:
            assert watcher_url is not None
            while True:
                async with session.get(watcher_url) as answer:
                    await answer.read()
                await asyncio.sleep(1.0)

        watcher = asyncio.create_task(watch()) if watcher_url else None
        if watcher is not None:
            await asyncio.sleep(1.5)  # the fleet is watched before the first frame
        tasks = []
        start = time.perf_counter()
        for offset, agent, body, samples in plan:
            due = start + offset
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            tasks.append(asyncio.create_task(one(due, agent, body, samples)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - start
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    return result


async def metered(meter: Meter, work: Awaitable[Watched]) -> Watched:
    """Await ``work`` while reading ``meter`` once a second."""

    async def sample() -> None:
        while True:
            meter.read()
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    try:
        return await work
    finally:
        sampler.cancel()
        meter.read()
