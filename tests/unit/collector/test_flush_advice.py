"""Ingest answers ask a watched host's agent to flush every tick, within the collector's means.

What marks a host watched (current, processes, fleet, the live stream, the fast path) and
what the answer then carries.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from hostvitals.collector import app as app_module
from hostvitals.collector.api.fastpath import CurrentFastPath
from hostvitals.collector.api.stream import fleet_snapshot, host_snapshot
from hostvitals.collector.ingest.flushadvice import FlushAdvisor, LoopLag
from hostvitals.collector.live.answers import CurrentCache
from hostvitals.collector.live.cluster import Cluster
from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.fleet import FleetTable
from hostvitals.collector.live.watch import WatchRegistry
from hostvitals.collector.vm.breaker import BreakerState
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import FLUSH_INTERVAL_HEADER
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

SEQ: dict[str, int] = {}


class IdleLag(LoopLag):
    """A loop-lag gauge that measures nothing: it stays at zero unless a test feeds it.

    The app's own measures the test process's event loop, which the test shares with the
    app and with whatever else the machine runs; how watching marks hosts must not depend on
    that. The lag's own effect is tested below with a lag the test feeds itself.
    """

    async def run(self) -> None:
        await asyncio.Event().wait()


@pytest.fixture(autouse=True)
def idle_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "LoopLag", IdleLag)


async def push(client: httpx.AsyncClient, host: str, ticks: int = 1) -> httpx.Response:
    seq = SEQ[host] = SEQ.get(host, -1) + 1
    frame = catalogue_frame(host, ticks_ending_now(ticks), seq=seq, metrics=["node_load1"])
    response = await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )
    assert response.status_code == 204, response.text
    return response


def asked(response: httpx.Response) -> str | None:
    return response.headers.get(FLUSH_INTERVAL_HEADER)


async def test_nobody_watching_asks_nothing_and_a_current_poll_asks_for_every_tick() -> None:
    async with running() as (_app, client, _vm):
        assert asked(await push(client, "adv-1", ticks=10)) is None
        response = await client.get("/api/v1/metrics/current", params={"host": "adv-1"})
        assert response.status_code == 200
        assert asked(await push(client, "adv-1")) == "1"
        assert asked(await push(client, "adv-2", ticks=10)) is None  # another host
        # Every host's current values, or the host list, are not someone watching.
        await client.get("/api/v1/metrics/current")
        await client.get("/api/v1/hosts")
        assert asked(await push(client, "adv-2")) is None


async def test_the_fast_path_processes_and_fleet_rows_mark_too() -> None:
    async with running() as (app, client, _vm):
        await push(client, "adv-a", ticks=10)
        await push(client, "adv-b", ticks=10)
        await push(client, "adv-c", ticks=10)
        await client.get("/api/v1/metrics/processes", params={"host": "adv-a"})
        one = await client.get("/api/v1/fleet", params={"host": "adv-b"})
        assert [r["host"] for r in one.json()["data"]["hosts"]] == ["adv-b"]
        assert app.state.watch.watched("adv-a") and app.state.watch.watched("adv-b")
        assert not app.state.watch.watched("adv-c")
        assert asked(await push(client, "adv-c")) is None
        await client.get("/api/v1/fleet")  # the fleet page: every host
        assert asked(await push(client, "adv-c")) == "1"


async def test_the_budget_refuses_more_hosts_and_counts_it() -> None:
    async with running(settings(live={"watch_max_hosts": 1})) as (app, client, _vm):
        for host in ("adv-x", "adv-y"):
            await push(client, host, ticks=10)
            await client.get("/api/v1/metrics/current", params={"host": host})
        assert asked(await push(client, "adv-x")) == "1"
        assert asked(await push(client, "adv-y")) is None
        value = app.state.metrics.registry.get_sample_value(
            "hostvitals_collector_fast_flush_refused_total", {"reason": "budget"}
        )
        assert value == 1


async def test_a_fast_host_keeps_the_flush_period_of_its_usual_frames() -> None:
    """One-tick frames while watched must not make the host stale once its agent returns to
    ten-tick frames."""
    async with running() as (_app, client, _vm):
        await push(client, "adv-p", ticks=10)
        await client.get("/api/v1/metrics/current", params={"host": "adv-p"})
        assert asked(await push(client, "adv-p", ticks=10)) == "1"
        assert asked(await push(client, "adv-p")) == "1"  # a one-tick frame, as asked
        hosts = (await client.get("/api/v1/hosts")).json()["data"]
    (row,) = [h for h in hosts if h["host"] == "adv-p"]
    assert row["flush_period_s"] == 10.0


async def test_the_fast_path_marks_the_host_it_answers_for() -> None:
    store, cache = CurrentStore(), CurrentCache()
    watch = WatchRegistry(registry=CollectorRegistry())
    cache.put("web-1", store.version, time.time(), b"[]")

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the cached answer should have been sent")

    middleware = CurrentFastPath(
        endpoint,
        store=store,
        cache=cache,
        cluster=Cluster([]),
        watch=watch,
        registry=CollectorRegistry(),
    )
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/metrics/current",
        "query_string": b"host=web-1",
    }
    await middleware(scope, receive, send)
    assert sent[0]["status"] == 200
    assert watch.watched("web-1")


async def test_each_stream_event_marks_its_host_or_the_fleet() -> None:
    store, cluster = CurrentStore(), Cluster([])
    watch = WatchRegistry(registry=CollectorRegistry())
    await host_snapshot(store, cluster, watch, "web-1")(0.0)
    assert watch.watched("web-1") and not watch.fleet_watched()
    await fleet_snapshot(FleetTable(store), cluster, watch)(0.0)
    assert watch.fleet_watched()


def advisor(queued: int, state: BreakerState) -> tuple[FlushAdvisor, WatchRegistry]:
    watch = WatchRegistry(registry=CollectorRegistry())
    writer = SimpleNamespace(queued_bytes=queued, queue_max_bytes=1000)
    breaker = SimpleNamespace(state=state)
    return FlushAdvisor(watch, writer, breaker), watch  # type: ignore[arg-type]


def test_no_fast_flushing_while_the_writer_falls_behind_or_the_breaker_is_not_closed() -> None:
    frame = catalogue_frame("web-1", ticks_ending_now(1), metrics=["node_load1"])
    for queued, state, expected in (
        (0, BreakerState.CLOSED, 1.0),
        (250, BreakerState.CLOSED, 1.0),
        (251, BreakerState.CLOSED, None),
        (0, BreakerState.OPEN, None),
        (0, BreakerState.HALF_OPEN, None),
    ):
        advise, watch = advisor(queued, state)
        assert advise.advise(frame) is None  # not watched
        watch.host("web-1")
        assert advise.advise(frame) == expected, (queued, state)
        assert advise.fast("web-1") is (expected is not None)


def test_no_fast_flushing_while_the_event_loop_runs_late() -> None:
    frame = catalogue_frame("web-1", ticks_ending_now(1), metrics=["node_load1"])
    advise, watch = advisor(0, BreakerState.CLOSED)
    watch.host("web-1")
    for _ in range(20):
        advise.lag.observe(0.2)  # the loop is a fifth of a second late, again and again
    assert advise.lag.busy
    assert advise.advise(frame) is None
    for _ in range(40):
        advise.lag.observe(0.0)
    assert not advise.lag.busy
    assert advise.advise(frame) == 1.0
    assert watch.refused.labels("busy")._value.get() == 1


async def test_the_loop_lag_is_measured_from_late_wake_ups() -> None:
    lag = LoopLag(period_s=0.01, registry=CollectorRegistry())
    measuring = asyncio.create_task(lag.run())
    try:
        for _ in range(8):
            await asyncio.sleep(0.02)
            time.sleep(0.2)  # work that holds the loop
    finally:
        measuring.cancel()
    assert lag.busy, lag.lag_s


def test_the_busy_threshold_is_the_setting() -> None:
    lag = LoopLag(registry=CollectorRegistry(), busy_lag_s=0.5)
    for _ in range(40):
        lag.observe(0.2)  # late, but under the threshold set
    assert not lag.busy, lag.lag_s
    for _ in range(40):
        lag.observe(0.8)
    assert lag.busy, lag.lag_s
    assert settings().live.watch_busy_lag_s == 0.05
