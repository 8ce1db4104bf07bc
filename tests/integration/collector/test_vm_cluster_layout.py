"""The cluster layout end to end, against a stand-in that has a VictoriaMetrics cluster's URL
layout for one tenant (tests/support/vmcluster.py: vmauth routing only tenant 42's
``/insert/42/prometheus/...`` and ``/select/42/prometheus/...`` paths to single-node
VictoriaMetrics). Frames go in through the collector, come back through its Prometheus API
and history API, and the rollup job reads the raw tier and writes a rollup tier, every
request through the stand-ins. A collector with another account id is refused.

What this proves: the paths and the tenant in them. It does not prove anything about a real
cluster's behaviour (sharding, replication, partial responses): see docs/operations.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import requests

from hostvitals.collector.config.settings import Settings
from hostvitals.shared.codec import encode_frame
from tests.integration.collector.test_ingest_victoriametrics import unique
from tests.integration.collector.test_rollups import (
    base_ms,
    expected_from_raw,
    make_frames,
    post,
    stored,
)
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.processes import wait_until
from tests.support.vmcluster import FLUSH_INTERVAL_S, ClusterStandIn

pytestmark = pytest.mark.integration

TENANT = 42
FRAMES = 6  # 6 minutes at 10 s, 6 ticks a frame
ARRIVAL_S = 20 * FLUSH_INTERVAL_S + 10.0
"""How long rows may take from vmagent to the storage: its flush interval, with room for a
busy machine."""


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ClusterStandIn]]:
    root = tmp_path_factory.mktemp("vm-cluster")
    stand_ins = {
        "raw": ClusterStandIn(root / "raw", str(TENANT), ("-dedup.minScrapeInterval=1ms",)),
        "1m": ClusterStandIn(root / "1m", str(TENANT), ("-dedup.minScrapeInterval=60s",)),
    }
    try:
        for stand_in in stand_ins.values():
            stand_in.start()
        yield stand_ins
    finally:
        for stand_in in stand_ins.values():
            stand_in.stop()


def cluster_settings(
    clusters: dict[str, ClusterStandIn], state: Path, account_id: int = TENANT
) -> Settings:
    raw, tier = clusters["raw"], clusters["1m"]
    return settings(
        victoriametrics={
            "layout": "cluster",
            "url": None,
            "insert_url": raw.url,
            "select_url": raw.url,
            "account_id": account_id,
        },
        state={"dir": state},
        tiers={
            "rollups": [
                {
                    "name": "1m",
                    "layout": "cluster",
                    "insert_url": tier.url,
                    "select_url": tier.url,
                    "resolution_s": 60,
                    "retention_days": 365,
                }
            ],
            "settle_s": 0,
            "rollup_interval_s": 3600,  # the test runs the passes itself
        },
    )


def samples(body: bytes) -> int:
    return sum(len(orjson.loads(line)["values"]) for line in body.splitlines())


def arrived(stand_in: ClusterStandIn, match: str, start_ms: int, end_ms: int, want: int) -> bytes:
    """The storage's export once it holds ``want`` samples (vmagent forwards them)."""
    got: list[bytes] = []

    def complete() -> bool:
        got[:] = [stand_in.export(match, start_ms, end_ms)]
        return samples(got[0]) >= want

    wait_until(complete, ARRIVAL_S, f"{want} samples in the storage", step=0.2)
    return got[0]


async def prom(client: httpx.AsyncClient, path: str, **params: str) -> Any:
    answer = await client.get(f"/api/v1/{path}", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success"
    return body["data"]


async def test_ingest_read_back_and_rollups_through_the_cluster_paths(
    clusters: dict[str, ClusterStandIn], tmp_path: Path
) -> None:
    host = unique("vmcluster")
    start = base_ms()
    end = start + 3600 * 1000
    frames = make_frames(host, start, FRAMES, seed=3)
    want = sum(v is not None for f in frames for s in f.series for v in s.values)
    match = f'{{host="{host}"}}'
    async with serving(cluster_settings(clusters, tmp_path)) as (app, client):
        health = await client.get("/api/v1/health")
        assert health.status_code == 200, health.text
        where = health.json()["victoriametrics"]
        assert where["layout"] == "cluster"
        assert clusters["raw"].password not in health.text  # the vmauth password stays hidden

        for frame in frames:
            await post(client, frame)
        raw_body = arrived(clusters["raw"], match, start, end, want)
        assert samples(raw_body) == want

        # Read back through the collector: the Prometheus API and the history API.
        # A sample from the middle of the series, not its first: the data starts on an hour
        # boundary, which at 03:00-04:00 UTC is midnight, and VictoriaMetrics 1.79 answers an
        # instant query at exactly 00:00:00.000 UTC with nothing when the series' first sample
        # is at that instant; a second later it answers the sample.
        first = orjson.loads(raw_body.splitlines()[0])
        middle = len(first["timestamps"]) // 2
        at_ms, value = first["timestamps"][middle], first["values"][middle]
        selector = f'{first["metric"]["__name__"]}{{host="{host}"}}'
        picked = [
            s
            for s in (await prom(client, "query", query=selector, time=str(at_ms / 1000)))["result"]
            if s["metric"] == first["metric"]
        ]
        assert [float(s["value"][1]) for s in picked] == [float(value)]
        names = {
            s["__name__"]
            for s in await prom(client, "series", **{"match[]": match, "start": str(start / 1000)})
        }
        assert names == {orjson.loads(line)["metric"]["__name__"] for line in raw_body.splitlines()}
        assert "host" in await prom(client, "labels", **{"match[]": match})

        window = {"host": host, "start": str(start / 1000), "end": str(start / 1000 + 900)}
        raw_answer = await client.get("/api/v1/metrics/cpu", params=window)
        assert raw_answer.status_code == 200, raw_answer.text
        assert raw_answer.json()["data"]["tier"] == "raw"
        loads = {
            v
            for s in raw_answer.json()["data"]["series"]
            if s["name"] == "load1"
            for _, v in s["points"]
        }
        stored_loads = {v for (name, _, _), v in stored(raw_body).items() if name == "node_load1"}
        assert loads and loads <= stored_loads

        # The rollup job reads the raw tier at vmselect's path and writes the tier's vminsert.
        job = app.state.storage.job
        while job.run_once(time.time()):
            pass
        assert len(app.state.storage.rollups) == 0, "a bucket failed (see the log)"
        expected = expected_from_raw(raw_body, 60_000)
        tier_body = arrived(clusters["1m"], match, start, end, len(expected))
        assert stored(tier_body) == pytest.approx(expected, rel=1e-12)

        rolled = await client.get("/api/v1/metrics/cpu", params={**window, "resolution": "1m"})
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["data"]["tier"] == "1m"
        series = rolled.json()["data"]["series"]
        means = [v for s in series if s["name"] == "load1" for _, v in s["points"]]
        tier_means = [v for (name, _, _), v in expected.items() if name == "node_load1"]
        assert means
        assert all(any(math.isclose(v, m, rel_tol=1e-9) for m in tier_means) for v in means)


def test_the_stand_in_refuses_other_tenants_and_single_node_paths(
    clusters: dict[str, ClusterStandIn],
) -> None:
    """What makes the test above able to fail: only tenant 42's cluster paths get through."""
    raw = clusters["raw"]
    line = orjson.dumps({"metric": {"__name__": "up"}, "values": [1], "timestamps": [0]})
    for path in (
        "/insert/0/prometheus/api/v1/import",
        "/api/v1/import",
        "/insert/42/api/v1/import",
    ):
        answer = requests.post(raw.plain_url + path, data=line, auth=raw.auth, timeout=10)
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
    for path in ("/select/0/prometheus/api/v1/query", "/api/v1/query", "/prometheus/api/v1/query"):
        answer = requests.get(
            raw.plain_url + path, params={"query": "1"}, auth=raw.auth, timeout=10
        )
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
    good = requests.get(
        raw.plain_url + f"/select/{TENANT}/prometheus/api/v1/query",
        params={"query": "1"},
        auth=raw.auth,
        timeout=10,
    )
    assert good.status_code == 200, good.text


async def test_a_collector_with_another_account_is_refused(
    clusters: dict[str, ClusterStandIn], tmp_path: Path
) -> None:
    host = unique("vmcluster-wrong")
    (frame,) = make_frames(host, base_ms(), 1, seed=4)
    async with serving(cluster_settings(clusters, tmp_path, account_id=7)) as (_app, client):
        answer = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert not 200 <= answer.status_code < 300, answer.text
        query = await client.get("/api/v1/query", params={"query": "1"})
        assert query.status_code == 400, query.text
