"""/hosts, /metrics/current and /metrics/processes answered from the live view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hostvitals.collector.live.answers import CurrentCache
from hostvitals.shared.codec import encode_frame
from tests.support.collector_app import msgpack_headers, running
from tests.support.frames import catalogue_frame, ticks_ending_now


async def push(client: httpx.AsyncClient, host: str, ticks: int = 3, **kwargs: Any) -> list[int]:
    timestamps = ticks_ending_now(ticks)
    frame = catalogue_frame(host, timestamps, **kwargs)
    response = await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )
    assert response.status_code == 204, response.text
    return timestamps


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    return body["data"]


async def test_hosts_lists_reporting_hosts() -> None:
    async with running() as (_app, client, _vm):
        assert await get(client, "/api/v1/hosts") == []
        await push(client, "live-b", agent_id="agent-b", interval_s=2.0)
        await push(client, "live-a")
        hosts = await get(client, "/api/v1/hosts")
    assert [h["host"] for h in hosts] == ["live-a", "live-b"]
    b = hosts[1]
    assert b["agent_id"] == "agent-b"
    assert b["interval_s"] == 2.0
    assert b["status"] == "up"
    assert isinstance(b["last_seen"], float)


async def test_current_values_rates_and_summary() -> None:
    async with running() as (_app, client, _vm):
        ticks = await push(client, "live-current")
        (snap,) = await get(client, "/api/v1/metrics/current", host="live-current")
    assert snap["host"] == "live-current"
    assert snap["timestamp"] == ticks[-1] / 1000
    assert snap["interval_s"] == 1.0
    by_key = {(s["metric"], tuple(sorted(s["labels"].items()))): s for s in snap["series"]}
    load = by_key[("node_load1", ())]
    assert (load["value"], load["rate"]) == (0.5, None)
    rx = by_key[("node_network_receive_bytes_total", (("device", "eth0"),))]
    assert rx["value"] == 1020
    assert rx["rate"] == 10.0
    proc = by_key[
        (
            "hostvitals_process_resident_memory_bytes",
            (("name", "postgres"), ("pid", "4242"), ("user", "postgres")),
        )
    ]
    assert proc["value"] == 300 * 2**20

    summary = snap["summary"]
    # Per CPU: idle grows 30/s and seven other modes 10/s each.
    assert summary["cpu_usage_ratio"] == pytest.approx(70 / 100)
    assert summary["memory_used_ratio"] == pytest.approx(0.25)
    assert summary["swap_used_ratio"] == pytest.approx(0.5)
    assert summary["load1"] == 0.5
    assert summary["filesystem_max_used_ratio"] == pytest.approx(60 / 95)
    assert summary["network_receive_bytes_per_second"] == 20.0
    assert summary["network_transmit_bytes_per_second"] == 20.0
    assert summary["disk_read_bytes_per_second"] == 20.0
    assert summary["disk_written_bytes_per_second"] == 20.0


async def test_single_tick_frame_has_no_rates_yet() -> None:
    async with running() as (_app, client, _vm):
        await push(client, "live-one-tick", ticks=1)
        (snap,) = await get(client, "/api/v1/metrics/current", host="live-one-tick")
    assert snap["summary"]["cpu_usage_ratio"] is None
    assert snap["summary"]["network_receive_bytes_per_second"] is None
    assert snap["summary"]["memory_used_ratio"] == pytest.approx(0.25)


async def test_current_without_host_lists_all_and_unknown_host_is_404() -> None:
    async with running() as (_app, client, _vm):
        await push(client, "live-x")
        await push(client, "live-y")
        data = await get(client, "/api/v1/metrics/current")
        assert [d["host"] for d in data] == ["live-x", "live-y"]
        missing = await client.get("/api/v1/metrics/current", params={"host": "nowhere"})
    assert missing.status_code == 404
    assert missing.json() == {
        "status": "error",
        "errorType": "not_found",
        "error": "unknown host 'nowhere': it has not reported",
    }


async def test_processes_sorted_and_limited() -> None:
    async with running() as (_app, client, _vm):
        assert await get(client, "/api/v1/metrics/processes") == []
        await push(client, "live-procs")
        by_cpu = await get(client, "/api/v1/metrics/processes")
        by_memory = await get(
            client, "/api/v1/metrics/processes", host="live-procs", sort="memory", limit=2
        )
    assert [p["pid"] for p in by_cpu] == [777, 4242, 1]
    assert by_cpu[1] == {
        "pid": 4242,
        "name": "postgres",
        "user": "postgres",
        "cpu_usage_ratio": 0.4,
        "resident_memory_bytes": 300 * 2**20,
    }
    assert [p["pid"] for p in by_memory] == [4242, 777]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"limit": 0}, "query parameter 'limit'"),
        ({"limit": 101}, "query parameter 'limit'"),
        ({"limit": "ten"}, "query parameter 'limit'"),
        ({"sort": "pid"}, "query parameter 'sort'"),
    ],
)
async def test_bad_process_parameters_are_400(params: dict[str, Any], says: str) -> None:
    async with running() as (_app, client, _vm):
        await push(client, "live-params")
        response = await client.get("/api/v1/metrics/processes", params=params)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "bad_data")
    assert says in body["error"]


async def test_processes_needs_a_host_when_several_are_known() -> None:
    async with running() as (_app, client, _vm):
        await push(client, "live-p1")
        await push(client, "live-p2")
        response = await client.get("/api/v1/metrics/processes")
        unknown = await client.get("/api/v1/metrics/processes", params={"host": "zzz"})
    assert response.status_code == 400
    assert "live-p1, live-p2" in response.json()["error"]
    assert unknown.status_code == 404


async def test_unknown_route_uses_the_error_shape() -> None:
    async with running() as (_app, client, _vm):
        response = await client.get("/api/v1/nothing-here")
        wrong_method = await client.get("/api/v1/ingest")
    assert response.status_code == 404
    assert response.json()["errorType"] == "not_found"
    assert "/api/v1/nothing-here" in response.json()["error"]
    assert wrong_method.status_code == 405
    assert wrong_method.json()["status"] == "error"


async def test_current_answers_the_newest_frame_right_away_despite_its_cache() -> None:
    async with running() as (_app, client, _vm):
        first = await push(client, "live-cache", ticks=2)
        (before,) = await get(client, "/api/v1/metrics/current", host="live-cache")
        (again,) = await get(client, "/api/v1/metrics/current", host="live-cache")
        assert again == before
        later = [t + 5000 for t in first]
        frame = catalogue_frame("live-cache", later, seq=1)
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert response.status_code == 204
        (after,) = await get(client, "/api/v1/metrics/current", host="live-cache")
        everyone = await get(client, "/api/v1/metrics/current")
    assert after["timestamp"] == later[-1] / 1000 > before["timestamp"]
    assert [s["timestamp"] for s in everyone if s["host"] == "live-cache"] == [later[-1] / 1000]


def test_current_cache_hits_only_for_the_same_version_and_age() -> None:
    cache = CurrentCache(max_age_s=1.0, max_entries=2)
    cache.put("a", 7, 100.0, b"seven")
    assert cache.get("a", 7, 100.5) == b"seven"
    assert cache.get("a", 8, 100.5) is None  # a frame arrived since
    assert cache.get("a", 7, 101.5) is None  # too old: expiry must show within a second
    assert cache.get(None, 7, 100.5) is None
    cache.put(None, 7, 100.0, b"all")
    cache.put("b", 7, 100.0, b"b")  # a third host: the cache starts over
    assert cache.get("a", 7, 100.1) is None
    assert cache.get("b", 7, 100.1) == b"b"


async def test_a_repeated_current_answer_is_sent_as_the_endpoint_sent_it() -> None:
    async with running() as (app, client, _vm):
        registry = app.state.metrics.registry

        def fast() -> float:
            return registry.get_sample_value("hostvitals_collector_current_fast_answers_total")

        await push(client, "live-fast")
        first = await client.get("/api/v1/metrics/current", params={"host": "live-fast"})
        assert fast() == 0  # the endpoint answered and kept the encoded answer
        again = await client.get("/api/v1/metrics/current", params={"host": "live-fast"})
        assert fast() == 1
        assert (again.status_code, again.content) == (first.status_code, first.content)
        for name in ("content-type", "content-length", "x-hostvitals-instance"):
            assert again.headers[name] == first.headers[name], name
        # Other parameters, other hosts and misses go to the endpoint.
        local = await client.get(
            "/api/v1/metrics/current", params={"host": "live-fast", "scope": "local"}
        )
        assert local.content == first.content
        missing = await client.get("/api/v1/metrics/current", params={"host": "nobody"})
        assert missing.status_code == 404
        assert fast() == 1
        # A newer frame is a newer answer.
        later = [t + 5000 for t in ticks_ending_now(3)]
        frame = catalogue_frame("live-fast", later, seq=1)
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert response.status_code == 204
        newer = await client.get("/api/v1/metrics/current", params={"host": "live-fast"})
        assert newer.content != first.content
        assert fast() == 1


async def test_workloads_of_a_host_from_the_live_view() -> None:
    async with running() as (_app, client, _vm):
        await push(client, "live-w")
        rows = await get(client, "/api/v1/metrics/workloads", host="live-w")
        missing = await client.get("/api/v1/metrics/workloads", params={"host": "nobody"})
        unnamed = await client.get("/api/v1/metrics/workloads")
    # The test frame has one workload; its counters grow by 10 per second.
    (row,) = rows
    assert (row["kind"], row["runtime"], row["name"]) == ("kind-0", "runtime-0", "name-0")
    assert row["cpu_cores"] == 10.0
    assert row["memory_bytes"] == 1.0
    assert row["io_waiting_ratio"] == 10.0
    assert missing.status_code == 404
    assert unnamed.status_code == 400
