"""A thousand agents coming back at once: the collector sheds load with 503 + Retry-After,
stays healthy, and every frame ends up stored exactly once.

The thousand agents are a replay loop doing what an agent's backlog lane does (oldest frame
first, Retry-After honoured, bounded tries), not a thousand agent processes, which would not
fit on a test machine; the agent's own sender meets a real collector in
test_agent_delivery.py. Frames are stored in a VictoriaMetrics without deduplication, so a
sample written twice would be seen twice.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter

import aiohttp
import orjson
import pytest
import requests

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import CONTENT_TYPE
from tests.e2e.conftest import StartCollector
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.e2e

AGENTS = 1000
FRAMES_PER_AGENT = 2
TICKS = 10


async def replay(
    session: aiohttp.ClientSession, url: str, frames: list[bytes], answers: Counter[int]
) -> None:
    """What an agent's backlog lane does: oldest first, honour Retry-After, retry a broken
    connection (a keep-alive connection the server closed just as a request went out) after
    a jittered pause, bounded tries. Broken connections are counted under status 0."""
    await asyncio.sleep(random.uniform(0, 0.5))  # the agents' own start jitter
    for body in frames:
        for _ in range(60):
            try:
                async with session.post(
                    url, data=body, headers={"Content-Type": CONTENT_TYPE}
                ) as response:
                    answers[response.status] += 1
                    if response.status == 204:
                        break
                    assert response.status in (429, 503), await response.text()
                    wait = float(response.headers.get("Retry-After", "1"))
            except aiohttp.ClientConnectionError:
                answers[0] += 1
                wait = 1.0
            await asyncio.sleep(min(wait, 2.0) * random.uniform(0.5, 1.0))
        else:
            raise AssertionError("a frame was never accepted")


def test_a_thousand_agents_replaying_together(
    start_collector: StartCollector, vm_without_dedup: VictoriaMetrics
) -> None:
    store = vm_without_dedup
    run = uuid.uuid4().hex[:8]
    # A small write queue makes the collector shed load instead of buffering it all.
    collector = start_collector(
        env={"HOSTVITALS__VICTORIAMETRICS__WRITE_QUEUE_MAX_BYTES": str(256 * 1024)},
        vm_url=store.url,
    )
    end = int(time.time() * 1000) - 60_000
    backlogs: list[list[bytes]] = []
    expected = 0
    for agent in range(AGENTS):
        frames = []
        for seq in range(FRAMES_PER_AGENT):
            ticks = ticks_ending_now(
                TICKS, end_ms=end - (FRAMES_PER_AGENT - 1 - seq) * TICKS * 1000
            )
            frame = catalogue_frame(
                f"storm-{run}-{agent}", ticks, agent_id=f"storm-{agent}", seq=seq
            )
            expected += frame.sample_count()
            frames.append(encode_frame(frame))
        backlogs.append(frames)

    answers: Counter[int] = Counter()

    async def storm() -> None:
        connector = aiohttp.TCPConnector(limit=AGENTS)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            url = f"{collector.url}/api/v1/ingest"
            await asyncio.gather(*(replay(session, url, b, answers) for b in backlogs))

    asyncio.run(storm())
    assert answers[204] == AGENTS * FRAMES_PER_AGENT
    assert answers[503] > 0, f"the burst never filled the write queue: {dict(answers)}"
    health = requests.get(f"{collector.url}/api/v1/health", timeout=10)
    assert health.status_code == 200, health.text
    assert collector.process.running()

    store.flush()
    exported = requests.post(
        f"{store.url}/api/v1/export",
        data={"match[]": f'{{host=~"storm-{run}-.*"}}', "start": "0"},
        timeout=60,
    )
    exported.raise_for_status()
    stored = 0
    for line in exported.content.splitlines():
        doc = orjson.loads(line)
        assert len(set(doc["timestamps"])) == len(doc["timestamps"]), "a sample stored twice"
        stored += len(doc["timestamps"])
    assert stored == expected
