"""/api/v1/fleet and /api/v1/fleet/history: rows from the live view, history from VM."""

from __future__ import annotations

from typing import Any

import httpx

from hostvitals.collector.live.fleet import fleet_queries
from hostvitals.shared.catalogue import CATALOGUE
from hostvitals.shared.codec import encode_frame
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, label_sets, ticks_ending_now


async def push(client: httpx.AsyncClient, host: str, ticks: int = 3) -> None:
    frame = catalogue_frame(host, ticks_ending_now(ticks))
    response = await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )
    assert response.status_code == 204, response.text


async def fleet(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/fleet", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_fleet_rows_carry_status_summary_and_agent_health() -> None:
    async with running() as (_app, client, _vm):
        assert (await fleet(client))["hosts"] == []
        await push(client, "fleet-b")
        await push(client, "fleet-a")
        data = await fleet(client)
    assert [r["host"] for r in data["hosts"]] == ["fleet-a", "fleet-b"]
    row = data["hosts"][0]
    assert row["status"] == "up"
    assert row["flush_period_s"] == 3.0  # two tick gaps plus the interval
    assert 0.0 <= row["summary"]["cpu_usage_ratio"] <= 1.0
    # Test counters grow by 10 per tick and second, on every label set.
    dropped = len(label_sets(CATALOGUE["hostvitals_agent_dropped_samples_total"]))
    assert row["agent"]["dropped_samples_per_second"] == 10.0 * dropped
    assert row["agent"]["dropped_samples_total"] == 1020.0 * dropped
    assert row["agent"]["spool_bytes"] is not None
    assert isinstance(data["now"], float)


async def test_fleet_filters_by_status_and_rejects_an_unknown_one() -> None:
    async with running() as (_app, client, _vm):
        await push(client, "fleet-up")
        assert [r["host"] for r in (await fleet(client, status="up"))["hosts"]] == ["fleet-up"]
        assert (await fleet(client, status="down"))["hosts"] == []
        response = await client.get("/api/v1/fleet", params={"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]


async def test_fleet_history_checks_its_range() -> None:
    async with running() as (_app, client, _vm):
        response = await client.get("/api/v1/fleet/history", params={"start": "100", "end": "50"})
    assert response.status_code == 400
    assert "start" in response.json()["error"]


async def test_fleet_history_says_when_victoriametrics_is_unreachable() -> None:
    unreachable = settings(victoriametrics={"url": "http://127.0.0.1:9", "timeout_s": 1})
    async with running(unreachable) as (_app, client, _vm):
        response = await client.get("/api/v1/fleet/history")
    assert response.status_code == 503
    assert "unreachable" in response.json()["error"]


def test_fleet_queries_group_by_host_and_follow_the_step() -> None:
    queries = {q.name: q.expr for q in fleet_queries(60)}
    assert set(queries) == {
        "cpu_usage_ratio",
        "memory_used_ratio",
        "filesystem_max_used_ratio",
        "network_bytes_per_second",
    }
    assert "by (host)" in queries["cpu_usage_ratio"]
    assert "[60s]" in queries["network_bytes_per_second"]
    assert "[2s]" in dict((q.name, q.expr) for q in fleet_queries(1))["cpu_usage_ratio"]


async def test_fleet_rows_carry_the_inventory_and_the_forecast() -> None:
    async with running() as (app, client, _vm):
        await push(client, "fleet-i")
        (row,) = (await fleet(client))["hosts"]
    inventory = row["inventory"]
    # The test frame's info labels are "<label>-0"; it has no version to compare.
    assert inventory["os"] == "pretty_name-0"
    assert inventory["kernel"] == "release-0"
    assert inventory["cpu_model"] == "model_name-0"
    assert inventory["agent_version"] == "version-0"
    assert inventory["agent_outdated"] is None
    assert inventory["boot_time"] == 1.0
    assert row["forecast"] is None  # nothing fills up
    assert app.state.version
