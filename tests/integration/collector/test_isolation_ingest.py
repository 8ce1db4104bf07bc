"""Isolation at ingest, over HTTP against a real VictoriaMetrics: an agent that rotates its id
cannot add series past its host's budget, a new host past the fleet's budget is refused, and
in both cases the other hosts' frames and queries keep working."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.integration.collector.test_ingest_victoriametrics import exported, unique
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

NIC = "node_network_receive_bytes_total"


def nics(agent: str, host: str, names: list[str], value: float = 1.0) -> Frame:
    return Frame(
        agent_id=agent,
        host=host,
        seq=1,
        sent_at_ms=0,
        interval_s=1,
        timestamps_ms=ticks_ending_now(1),
        series=[Series(NIC, {"device": name}, [value]) for name in names],
    )


async def post(client: httpx.AsyncClient, frame: Frame) -> httpx.Response:
    return await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )


async def devices(client: httpx.AsyncClient, host: str, count: int) -> list[str]:
    """The host's NIC series, as a query through the collector answers them, once ``count``
    are searchable (VictoriaMetrics makes new series searchable within seconds)."""
    found: list[str] = []
    deadline = time.monotonic() + 30
    while len(found) < count and time.monotonic() < deadline:
        answer = await client.get("/api/v1/query", params={"query": f'{NIC}{{host="{host}"}}'})
        assert answer.status_code == 200, answer.text
        found = sorted(r["metric"]["device"] for r in answer.json()["data"]["result"])
        if len(found) < count:
            await asyncio.sleep(0.2)
    return found


async def test_rotated_agent_ids_are_refused_past_the_hosts_budget(
    victoria_metrics: VictoriaMetrics,
) -> None:
    victim, other = unique("iso-victim"), unique("iso-other")
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        limits={"max_series_per_host": 50, "max_series_total": 1000},
        tiers={"rollups": []},
    )
    real = [f"eth{i}" for i in range(20)]
    async with serving(app_settings) as (_app, client):
        assert (await post(client, nics("real", victim, real))).status_code == 204
        answers = []
        for n in range(46):  # the attack: 46 agent ids, each with series of its own
            rotated = nics(f"rotated-{n}", victim, [f"rot{n}-{i}" for i in range(10)])
            answers.append(await post(client, rotated))
        assert [a.status_code for a in answers[:3]] == [204, 204, 204]  # 20 + 30 = 50
        refused = answers[3:]
        assert {a.status_code for a in refused} == {422}
        assert (
            f"host '{victim}' (agent 'rotated-3') would have 60 series in use; the limit is 50"
            in refused[0].json()["error"]
        )
        # The host's own series keep flowing, and so does every other host.
        again = nics("real", victim, real, value=2.0)
        again.seq = 2
        assert (await post(client, again)).status_code == 204
        assert (await post(client, nics("other", other, ["eth0", "eth1"]))).status_code == 204
        assert await devices(client, other, 2) == ["eth0", "eth1"]
        assert len(await devices(client, victim, 50)) == 50
        current = await client.get("/api/v1/metrics/current", params={"host": victim})
        assert current.status_code == 200
        assert len(current.json()["data"][0]["series"]) == 50
        fleet = await client.get("/api/v1/fleet")
        assert {victim, other} <= {row["host"] for row in fleet.json()["data"]["hosts"]}
        rejected = (await client.get("/metrics")).text
    assert len(exported(victoria_metrics, victim)) == 50
    assert (
        'hostvitals_collector_ingest_rejected_total{reason="too_many_series_for_host"} 43.0'
        in rejected
    )


async def test_a_new_host_past_the_fleets_budget_is_refused_and_the_others_keep_flowing(
    victoria_metrics: VictoriaMetrics,
) -> None:
    first, second, late = unique("iso-a"), unique("iso-b"), unique("iso-late")
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        limits={"max_series_per_host": 30, "max_series_total": 50},
        tiers={"rollups": []},
    )
    names = [f"eth{i}" for i in range(25)]
    async with serving(app_settings) as (_app, client):
        assert (await post(client, nics("a", first, names))).status_code == 204
        assert (await post(client, nics("b", second, names))).status_code == 204
        refused = await post(client, nics("c", late, ["eth0"]))
        assert refused.status_code == 422
        assert (
            f"a host not seen yet '{late}' would take the fleet to 51 series in use; the limit "
            "is 50 (limits.max_series_total" in refused.json()["error"]
        )
        known = nics("a", first, names, value=3.0)
        known.seq = 2
        assert (await post(client, known)).status_code == 204
        assert await devices(client, first, 25) == sorted(names)
    assert exported(victoria_metrics, late) == {}
