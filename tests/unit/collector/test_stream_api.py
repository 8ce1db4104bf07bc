"""The live stream: events only on change, keep-alives, bounded number of streams."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from hostvitals.collector.api.stream import StreamSlots, live_events
from tests.support.collector_app import running, settings


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def parse(event: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in event.decode().splitlines():
        if not line:
            continue
        key, _, value = line.partition(": ")
        fields[key] = value
    return fields


async def test_events_are_sent_when_the_snapshot_changes_with_keepalives_between() -> None:
    fake = FakeTime()
    values = iter([1, 1, 2, 2, 2, 2, 2, 3])

    async def snapshot(now: float) -> tuple[str, Any]:
        return "fleet", {"value": next(values), "at": None}

    events = live_events(
        snapshot, interval_s=1.0, clock=fake.clock, sleep=fake.sleep, keepalive_s=3.0
    )
    first = parse(await anext(events))
    assert first["retry"] == "2000"
    received = [parse(await anext(events)) for _ in range(4)]
    kinds = [e.get("event") or e.get("") for e in received]
    assert kinds == ["fleet", "fleet", "keep-alive", "fleet"]
    bodies = [orjson.loads(e["data"]) for e in received if "data" in e]
    assert [b["data"]["value"] for b in bodies] == [1, 2, 3]
    assert bodies[0]["now"] == 1000.0
    await events.aclose()


def test_slots_are_bounded_and_counted() -> None:
    registry = CollectorRegistry()
    slots = StreamSlots(2, registry)
    a, b = slots.acquire(), slots.acquire()
    assert a is not None and b is not None
    assert slots.acquire() is None
    assert registry.get_sample_value("hostvitals_collector_streams_rejected_total") == 1.0
    a.release()
    a.release()  # idempotent
    assert slots.open == 1
    assert slots.acquire() is not None
    assert registry.get_sample_value("hostvitals_collector_streams_open") == 2.0


async def test_a_stream_past_the_limit_is_refused_with_retry_after() -> None:
    async with running(settings(ui={"max_streams": 1})) as (app, client, _vm):
        held = app.state.streams.acquire()
        assert held is not None
        response = await client.get("/api/v1/stream")
        held.release()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "ui.max_streams" in response.json()["error"]


async def test_a_bad_host_is_refused_before_streaming() -> None:
    async with running() as (_app, client, _vm):
        response = await client.get("/api/v1/stream", params={"host": "x" * 1000})
    assert response.status_code == 400
    assert "host" in response.json()["error"]
