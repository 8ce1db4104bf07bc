"""The circuit breaker with a real VictoriaMetrics that stops, comes back, or hangs."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostvitals.collector.vm.breaker import BreakerState
from tests.integration.collector.test_ingest_victoriametrics import expected, exported, unique
from tests.support.collector_app import post_frame, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


async def test_store_down_opens_the_breaker_and_nothing_is_lost(tmp_path: Path) -> None:
    vm = VictoriaMetrics(data_dir=tmp_path / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
    vm.start()
    host = unique("breaker")
    ticks = ticks_ending_now(8)
    frames = [catalogue_frame(host, ticks[i * 2 : i * 2 + 2], seq=i) for i in range(4)]
    app_settings = settings(
        victoriametrics={"url": vm.url, "timeout_s": 5, "retry_after_s": 7},
        breaker={"failure_threshold": 2, "open_s": 0.5, "half_open_max_requests": 1},
        tiers={"rollups": []},
    )
    try:
        async with serving(app_settings) as (app, client):
            registry = app.state.metrics.registry
            assert (await post_frame(client, frames[0])).status_code == 204

            vm.stop()
            for frame in frames[1:3]:  # the writes fail: 503, and the breaker counts them
                failed = await post_frame(client, frame)
                assert failed.status_code == 503
                assert failed.headers["Retry-After"] == "7"
            assert app.state.storage.breaker.state is BreakerState.OPEN
            writes = registry.get_sample_value(
                "hostvitals_collector_vm_writes_total", {"result": "unavailable"}
            )
            refused = await post_frame(client, frames[3])  # answered at once, without a write
            assert refused.status_code == 503
            assert refused.json()["errorType"] == "unavailable"
            assert "circuit breaker open" in refused.json()["error"]
            assert 1 <= int(refused.headers["Retry-After"]) <= 1
            assert (
                registry.get_sample_value(
                    "hostvitals_collector_vm_writes_total", {"result": "unavailable"}
                )
                == writes
            )
            assert (
                registry.get_sample_value(
                    "hostvitals_collector_ingest_rejected_total", {"reason": "breaker_open"}
                )
                == 1
            )

            vm.start()
            # The agent keeps its frames and retries them, honouring Retry-After (bounded).
            pending = list(frames[1:])
            for _ in range(100):
                if not pending:
                    break
                answer = await post_frame(client, pending[0])
                if answer.status_code == 204:
                    pending.pop(0)
                else:
                    assert answer.status_code == 503
                    await asyncio.sleep(0.1)
            assert pending == []
            assert app.state.storage.breaker.state is BreakerState.CLOSED
        stored = exported(vm, host)
        merged: dict[object, list[tuple[int, float]]] = {}
        for frame in frames:
            for key, points in expected(frame).items():
                merged[key] = sorted(merged.get(key, []) + points)
        assert stored == merged
    finally:
        vm.stop()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung VictoriaMetrics."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


async def test_a_hung_store_gets_503_at_once_instead_of_a_queue(silent_server: str) -> None:
    host = unique("breaker-slow")
    ticks = ticks_ending_now(4)
    first, second = (catalogue_frame(host, ticks[i * 2 : i * 2 + 2], seq=i) for i in range(2))
    app_settings = settings(
        victoriametrics={"url": silent_server, "timeout_s": 1},
        breaker={"slow_write_s": 0.2},
        tiers={"rollups": []},
    )
    async with serving(app_settings) as (_app, client):
        hanging = asyncio.create_task(post_frame(client, first))
        await asyncio.sleep(0.4)  # the first write has now run longer than slow_write_s
        refused = await post_frame(client, second)
        assert refused.status_code == 503
        assert "circuit breaker open" in refused.json()["error"]
        assert int(refused.headers["Retry-After"]) >= 1
        assert not hanging.done()
        assert (await hanging).status_code == 503  # its write timed out: not acknowledged
