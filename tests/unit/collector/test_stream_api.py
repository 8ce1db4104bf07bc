"""The live stream: events only on change, keep-alives, bounded number of streams."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from hostvitals.collector.api.stream import (
    HOST_EVENT_METRICS,
    PROCESSES_SHOWN,
    WORKLOADS_SHOWN,
    StreamSlots,
    host_snapshot,
    live_events,
    shared_updates,
)
from hostvitals.collector.live.cluster import Cluster
from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.fleet import fleet_row, top_processes
from hostvitals.collector.live.updates import Update
from hostvitals.collector.live.watch import WatchRegistry
from hostvitals.collector.live.workloads import workloads
from tests.support.collector_app import running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

END_MS = 1_700_000_000_000


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def sleep_none(self, seconds: float) -> None:
        """The test moves the clock itself."""


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

    shared = shared_updates(1.0, CollectorRegistry())

    async def source(now: float) -> Update:
        return await shared.get(None, now, snapshot)

    events = live_events(
        source, interval_s=1.0, clock=fake.clock, sleep=fake.sleep, keepalive_s=3.0
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


async def test_every_stream_shares_one_computation_per_tick_and_key() -> None:
    """64 streams of the fleet and 64 of one host, over 5 ticks: each update is computed 5
    times, not 320, and every stream sends the same bytes."""
    fake = FakeTime()
    shared = shared_updates(1.0, CollectorRegistry())
    computed: list[tuple[str, float]] = []

    def snapshot(name: str) -> Callable[[float], Awaitable[tuple[str, Any]]]:
        async def compute(now: float) -> tuple[str, Any]:
            computed.append((name, now))
            await asyncio.sleep(0)  # the other streams ask while this one computes
            return name, {"value": now}

        return compute

    streams = []
    for _ in range(64):
        for key, name in ((None, "fleet"), ("web-1", "host")):
            streams.append(
                live_events(
                    partial(shared.get, key, compute=snapshot(name)),
                    interval_s=1.0,
                    clock=fake.clock,
                    sleep=fake.sleep_none,
                )
            )
    for events in streams:  # the retry line
        await anext(events)
    sent: list[list[bytes]] = []
    for _ in range(5):
        sent.append(list(await asyncio.gather(*(anext(events) for events in streams))))
        fake.now += 1.0
    assert sorted(computed) == sorted(
        (name, 1000.0 + tick) for tick in range(5) for name in ("fleet", "host")
    )
    for events_of_tick in sent:
        assert len(set(events_of_tick[0::2])) == 1 and len(set(events_of_tick[1::2])) == 1
    assert shared.computed.labels("fleet")._value.get() == 5
    for events in streams:
        await events.aclose()


async def test_host_streams_cost_one_computation_per_host_and_tick() -> None:
    """32 fleet streams and 32 host streams on 8 hosts (4 each), over 5 ticks: the fleet's
    update is computed 5 times and the hosts' 8 x 5 times, whatever the streams' order."""
    fake = FakeTime()
    shared = shared_updates(1.0, CollectorRegistry())

    async def compute(now: float) -> tuple[str, Any]:
        await asyncio.sleep(0)  # the other streams ask while this one computes
        return "update", {"value": now}

    keys: list[str | None] = [None] * 32 + [f"web-{n % 8}" for n in range(32)]
    streams = [
        live_events(
            partial(shared.get, key, compute=compute),
            interval_s=1.0,
            clock=fake.clock,
            sleep=fake.sleep_none,
        )
        for key in keys
    ]
    for events in streams:
        await anext(events)
    for _ in range(5):
        await asyncio.gather(*(anext(events) for events in streams))
        fake.now += 1.0
    assert shared.computed.labels("fleet")._value.get() == 5
    assert shared.computed.labels("host")._value.get() == 8 * 5
    for events in streams:
        await events.aclose()


async def test_a_computation_that_fails_is_tried_again_by_the_next_stream() -> None:
    shared = shared_updates(1.0, CollectorRegistry())
    calls = 0

    async def flaky(now: float) -> tuple[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("peer down")
        return "fleet", {"ok": True}

    with pytest.raises(RuntimeError):
        await shared.get(None, 10.0, flaky)
    update = await shared.get(None, 10.0, flaky)
    assert orjson.loads(update.data) == {"ok": True}
    assert calls == 2


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


async def test_a_host_event_copies_only_its_series_and_equals_one_from_the_full_copy() -> None:
    """Row, top processes and workloads as a copy of every series of the host makes them."""
    store = CurrentStore()
    for seq in range(2):  # two frames: rates and workload rates need two points
        ticks = ticks_ending_now(3, end_ms=END_MS + 3000 * seq)
        store.update(catalogue_frame("web-1", ticks, seq=seq), ticks[-1] / 1000)
    now = END_MS / 1000 + 3
    registry = CollectorRegistry()
    snap = host_snapshot(store, Cluster([], registry=registry), WatchRegistry(), "web-1")
    name, data = await snap(now)
    full = store.host("web-1", now)
    assert full is not None
    assert name == "host"
    assert data == {
        "host": "web-1",
        "row": fleet_row(full),
        "processes": top_processes(full, PROCESSES_SHOWN),
        "workloads": workloads(full, WORKLOADS_SHOWN),
    }
    assert data["processes"] and data["workloads"]  # so the comparison shows something
    assert all(v is not None for v in data["row"]["summary"].values())
    copied = store.host("web-1", now, metrics=HOST_EVENT_METRICS)
    assert copied is not None and len(copied.series) < len(full.series)
