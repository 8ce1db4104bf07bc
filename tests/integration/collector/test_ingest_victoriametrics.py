"""Ingest against a real VictoriaMetrics: what is acknowledged is stored, exactly."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from hostvitals.collector.ingest.importlines import frame_to_import_lines
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Value
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame, default_value, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

Key = tuple[tuple[str, str], ...]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def exported(vm: VictoriaMetrics, host: str) -> dict[Key, list[tuple[int, float]]]:
    vm.flush()
    # Without an explicit end, the export stops at the current whole second.
    params = {"match[]": f'{{host="{host}"}}', "start": "0", "end": str(int(time.time()) + 3600)}
    response = requests.get(f"{vm.url}/api/v1/export", params=params, timeout=10)
    response.raise_for_status()
    out: dict[Key, list[tuple[int, float]]] = {}
    for line in response.content.splitlines():
        doc = orjson.loads(line)
        key = tuple(sorted(doc["metric"].items()))
        out[key] = sorted(
            (t, float(v)) for t, v in zip(doc["timestamps"], doc["values"], strict=True)
        )
    return out


def expected(frame: Frame) -> dict[Key, list[tuple[int, float]]]:
    out: dict[Key, list[tuple[int, float]]] = {}
    for s in frame.series:
        points = [
            (t, float(v))
            for t, v in zip(frame.timestamps_ms, s.values, strict=True)
            if v is not None
        ]
        if points:
            labels = {"__name__": s.metric, "host": frame.host, **s.labels}
            out[tuple(sorted(labels.items()))] = points
    return out


def with_gaps(spec: Any, labels: dict[str, str], tick: int) -> Value:
    """Every metric, some of them missing at some ticks (a process leaving the top N)."""
    if spec.name.startswith("hostvitals_process_") and labels["pid"] == "777" and tick == 1:
        return None
    if spec.name == "node_load15" and tick == 0:
        return None
    return default_value(spec, labels, tick)


async def test_acknowledged_frame_is_stored_with_host_label_and_exact_values(
    victoria_metrics: VictoriaMetrics,
) -> None:
    host = unique("int-exact")
    frame = catalogue_frame(host, ticks_ending_now(3), values=with_gaps)
    app_settings = settings(victoriametrics={"url": victoria_metrics.url})
    async with serving(app_settings) as (_app, client):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert response.status_code == 204, response.text
    stored = exported(victoria_metrics, host)
    assert stored == expected(frame)
    assert len(stored) == len(frame.series)


async def test_store_down_gives_503_with_retry_after_and_degraded_health(
    tmp_path: Path,
) -> None:
    vm = VictoriaMetrics(data_dir=tmp_path / "vm-data")
    vm.start()
    host = unique("int-down")
    try:
        app_settings = settings(
            victoriametrics={"url": vm.url, "health_cache_s": 0, "timeout_s": 5, "retry_after_s": 7}
        )
        async with serving(app_settings) as (_app, client):
            first = catalogue_frame(host, ticks_ending_now(2), seq=1)
            ok = await client.post(
                "/api/v1/ingest", content=encode_frame(first), headers=msgpack_headers()
            )
            assert ok.status_code == 204, ok.text
            assert (await client.get("/api/v1/health")).status_code == 200

            vm.stop()
            second = catalogue_frame(host, ticks_ending_now(2), seq=2)
            down = await client.post(
                "/api/v1/ingest", content=encode_frame(second), headers=msgpack_headers()
            )
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] == "7"
            assert down.json()["errorType"] == "unavailable"

            health = await client.get("/api/v1/health")
            assert health.status_code == 503
            body = health.json()
            assert body["status"] == "degraded"
            assert body["victoriametrics"]["reachable"] is False
            assert body["victoriametrics"]["last_write_ok"] is False

            # The frame that failed is not in the live view either.
            (snap,) = (await client.get("/api/v1/metrics/current", params={"host": host})).json()[
                "data"
            ]
            assert snap["timestamp"] == first.timestamps_ms[-1] / 1000
    finally:
        vm.stop()


async def test_concurrent_ingests_share_one_write(victoria_metrics: VictoriaMetrics) -> None:
    prefix = unique("int-group")
    frames = [
        catalogue_frame(f"{prefix}-{i}", ticks_ending_now(2), agent_id=f"agent-{i}")
        for i in range(8)
    ]
    total = sum(len(frame_to_import_lines(f).body) for f in frames)
    # The batch is sent when it holds every frame; the long delay never runs out first.
    app_settings = settings(
        victoriametrics={
            "url": victoria_metrics.url,
            "write_batch_max_bytes": total,
            "write_max_delay_ms": 10_000,
        }
    )
    async with serving(app_settings) as (app, client):
        responses = await asyncio.gather(
            *(
                client.post("/api/v1/ingest", content=encode_frame(f), headers=msgpack_headers())
                for f in frames
            )
        )
        assert [r.status_code for r in responses] == [204] * len(frames)
        registry = app.state.metrics.registry
        posts = registry.get_sample_value("hostvitals_collector_vm_writes_total", {"result": "ok"})
        carried = registry.get_sample_value("hostvitals_collector_vm_write_frames_total")
        assert (posts, carried) == (1, len(frames))
        assert registry.get_sample_value("hostvitals_collector_ingest_frames_total") == len(frames)
    for frame in frames:
        assert exported(victoria_metrics, frame.host) == expected(frame)


async def test_live_view_and_metrics_follow_written_frames(
    victoria_metrics: VictoriaMetrics,
) -> None:
    host = unique("int-live")
    ticks = ticks_ending_now(4)
    older = catalogue_frame(host, ticks[:2], seq=1)
    newer = catalogue_frame(
        host, ticks[2:], seq=2, values=lambda spec, labels, t: default_value(spec, labels, t + 2)
    )
    app_settings = settings(victoriametrics={"url": victoria_metrics.url})
    async with serving(app_settings) as (_app, client):
        for frame in (older, newer):
            response = await client.post(
                "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
            )
            assert response.status_code == 204, response.text

        hosts = (await client.get("/api/v1/hosts")).json()["data"]
        (mine,) = [h for h in hosts if h["host"] == host]
        assert (mine["status"], mine["agent_id"], mine["interval_s"]) == ("up", "test-agent", 1.0)

        (snap,) = (await client.get("/api/v1/metrics/current", params={"host": host})).json()[
            "data"
        ]
        assert snap["timestamp"] == ticks[-1] / 1000
        summary = snap["summary"]
        assert summary["cpu_usage_ratio"] == pytest.approx(0.7)
        assert summary["network_receive_bytes_per_second"] == pytest.approx(20.0)

        processes = await client.get(
            "/api/v1/metrics/processes", params={"host": host, "sort": "memory", "limit": 1}
        )
        assert processes.status_code == 200
        (top,) = processes.json()["data"]
        assert (top["pid"], top["name"]) == (4242, "postgres")

        text = (await client.get("/metrics")).text
        assert "hostvitals_collector_ingest_frames_total 2.0" in text
        written = older.sample_count() + newer.sample_count()
        assert f"hostvitals_collector_samples_written_total {float(written)}" in text
    assert len(exported(victoria_metrics, host)) == len(older.series)
