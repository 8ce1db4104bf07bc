"""/api/v1/health and /metrics."""

from __future__ import annotations

from fastapi import FastAPI

from hostvitals.collector.api import health, ingest, live
from hostvitals.shared.codec import encode_frame
from tests.support.collector_app import FakeVictoriaMetrics, msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now


async def test_healthy_when_the_store_answers() -> None:
    async with running() as (_app, client, _vm):
        response = await client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["victoriametrics"] == {
        "url": "http://127.0.0.1:8428",
        "reachable": True,
        "last_write_ok": None,
        "last_error": None,
    }
    assert isinstance(body["version"], str) and body["version"]


async def test_degraded_when_the_store_is_unreachable() -> None:
    fake = FakeVictoriaMetrics()
    fake.reachable = False
    async with running(backend=fake) as (_app, client, _vm):
        response = await client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["victoriametrics"]["reachable"] is False
    assert "connection refused" in body["victoriametrics"]["last_error"]


async def test_degraded_after_a_failed_write_until_a_write_succeeds() -> None:
    fake = FakeVictoriaMetrics()
    fake.status = 503
    frame = catalogue_frame("health-host", ticks_ending_now(2), metrics=["node_load1"])
    async with running(backend=fake) as (_app, client, _vm):
        failed = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert failed.status_code == 503
        response = await client.get("/api/v1/health")
        assert response.status_code == 503
        assert response.json()["victoriametrics"]["last_write_ok"] is False
        assert "503" in response.json()["victoriametrics"]["last_error"]

        fake.status = 204
        ok = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert ok.status_code == 204
        response = await client.get("/api/v1/health")
        assert response.status_code == 200
        assert response.json()["victoriametrics"]["last_write_ok"] is True


async def test_the_store_check_is_cached() -> None:
    app_settings = settings(victoriametrics={"health_cache_s": 3600})
    async with running(app_settings) as (_app, client, vm):
        for _ in range(5):
            assert (await client.get("/api/v1/health")).status_code == 200
    assert vm.pings == 1


async def test_metrics_exposes_the_collector_counters() -> None:
    frame = catalogue_frame("metrics-host", ticks_ending_now(2))
    async with running() as (_app, client, _vm):
        await client.post("/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers())
        await client.post("/api/v1/ingest", content=b"junk", headers=msgpack_headers())
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "hostvitals_collector_ingest_frames_total 1.0" in text
    assert f"hostvitals_collector_samples_written_total {float(frame.sample_count())}" in text
    assert 'hostvitals_collector_ingest_rejected_total{reason="bad_msgpack"} 1.0' in text
    assert 'hostvitals_collector_ingest_rejected_total{reason="too_old"} 0.0' in text
    assert 'hostvitals_collector_vm_writes_total{result="ok"} 1.0' in text
    assert "hostvitals_collector_hosts 1.0" in text


def test_ingest_health_and_live_routes_document_themselves() -> None:
    app = FastAPI()
    for router in (ingest.router, health.router, live.router):
        app.include_router(router)
    paths = app.openapi()["paths"]
    body = paths["/api/v1/ingest"]["post"]["requestBody"]
    assert "application/x-msgpack" in body["content"]
    assert {"/api/v1/health", "/metrics", "/api/v1/hosts", "/api/v1/metrics/current"} <= set(paths)
