"""From the drain's start (SIGTERM), ingest answers 503 with Retry-After."""

from __future__ import annotations

from hostvitals.collector.drain import Drain
from hostvitals.shared.protocol import CONTENT_TYPE
from tests.support.collector_app import FakeVictoriaMetrics, serving, settings


async def test_ingest_answers_503_with_retry_after_once_the_drain_began() -> None:
    async with serving(settings(victoriametrics={"retry_after_s": 7}), FakeVictoriaMetrics()) as (
        app,
        client,
    ):
        headers = {"Content-Type": CONTENT_TYPE}
        before = await client.post("/api/v1/ingest", content=b"\xc1", headers=headers)
        assert before.status_code == 400  # read and refused as corrupt: not drained
        drain: Drain = app.state.drain
        drain.begin()
        during = await client.post("/api/v1/ingest", content=b"\xc1", headers=headers)
        assert during.status_code == 503
        assert during.headers["Retry-After"] == "7"
        assert during.json()["errorType"] == "shutting_down"


def test_the_drain_keeps_its_first_start() -> None:
    drain = Drain()
    assert not drain.active
    drain.begin()
    first = drain.started_at
    drain.begin()
    assert drain.active and drain.started_at == first
