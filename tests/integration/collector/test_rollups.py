"""Rollup tiers against real VictoriaMetrics instances: the values in every tier equal the
values computed directly from the raw samples, with late data, a collector restart in the
middle of a bucket, and two collector replicas sharing one host's frames."""

from __future__ import annotations

import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
import pytest
import requests
from fastapi import FastAPI

from hostvitals.collector.config.settings import Settings
from hostvitals.collector.rollups.rollup import parse_export, rollup_bucket
from hostvitals.shared.catalogue import CATALOGUE, Kind, MetricSpec
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Value
from tests.conftest import ROLLUP_TIERS
from tests.integration.collector.test_ingest_victoriametrics import unique
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

METRICS = ("node_load1", "node_memory_MemAvailable_bytes", "node_cpu_seconds_total")
INTERVAL_MS = 10_000
TICKS_PER_FRAME = 6
RESOLUTION_S = {name: res for name, res, _ in ROLLUP_TIERS}

Row = tuple[str, tuple[tuple[str, str], ...], int]  # series name, other labels, timestamp


def tier_settings(raw: VictoriaMetrics, tiers: dict[str, VictoriaMetrics], state: Path) -> Settings:
    return settings(
        victoriametrics={"url": raw.url},
        state={"dir": state},
        tiers={
            "rollups": [
                {"name": n, "url": tiers[n].url, "resolution_s": r, "retention_days": 365}
                for n, r, _ in ROLLUP_TIERS
            ],
            "settle_s": 0,
            "rollup_interval_s": 3600,  # the tests run the passes themselves
        },
    )


def base_ms() -> int:
    """An hour boundary three hours ago: every bucket of the test data is closed."""
    return (int(time.time()) // 3600 - 3) * 3600 * 1000


def make_frames(host: str, start_ms: int, count: int, seed: int) -> list[Frame]:
    rng = random.Random(seed)
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)

    def value(spec: MetricSpec, labels: dict[str, str], _tick: int) -> Value:
        if spec.kind is Kind.COUNTER:
            key = (spec.name, tuple(sorted(labels.items())))
            counters[key] += rng.uniform(0, 5)
            return counters[key]
        return rng.uniform(0, 100) if spec.name == "node_load1" else rng.randrange(1 << 30)

    frames = []
    for i in range(count):
        first = start_ms + i * TICKS_PER_FRAME * INTERVAL_MS
        ticks = [first + k * INTERVAL_MS for k in range(TICKS_PER_FRAME)]
        frames.append(
            catalogue_frame(host, ticks, seq=i, interval_s=10, values=value, metrics=METRICS)
        )
    return frames


async def post(client: httpx.AsyncClient, frame: Frame) -> None:
    answer = await client.post(
        "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
    )
    assert answer.status_code == 204, answer.text


def export(vm: VictoriaMetrics, host: str, start_ms: int, end_ms: int) -> bytes:
    vm.flush()
    response = requests.post(
        f"{vm.url}/api/v1/export",
        data={
            "match[]": f'{{host="{host}"}}',
            "start": str(start_ms / 1000),
            "end": str(end_ms / 1000),
        },
        timeout=10,
    )
    response.raise_for_status()
    return response.content


def expected_from_raw(raw_body: bytes, width_ms: int) -> dict[Row, float]:
    """Rollups computed here, independently of the collector, from the raw samples."""
    buckets: dict[tuple[str, tuple[tuple[str, str], ...], int], list[tuple[int, float]]] = (
        defaultdict(list)
    )
    for line in raw_body.splitlines():
        doc = orjson.loads(line)
        labels = dict(doc["metric"])
        name = labels.pop("__name__")
        key = tuple(sorted(labels.items()))
        for ts, v in zip(doc["timestamps"], doc["values"], strict=True):
            buckets[(name, key, ts // width_ms * width_ms)].append((ts, float(v)))
    out: dict[Row, float] = {}
    for (name, key, bucket), samples in buckets.items():
        samples.sort()
        values = [v for _, v in samples]
        ts = bucket + len(values)
        if CATALOGUE[name].kind is Kind.GAUGE:
            out[(name, key, ts)] = statistics.fmean(values)
            out[(f"{name}:min", key, ts)] = min(values)
            out[(f"{name}:max", key, ts)] = max(values)
        else:
            out[(name, key, ts)] = samples[-1][1]
        out[(f"{name}:count", key, ts)] = float(len(values))
    return out


def stored(body: bytes) -> dict[Row, float]:
    out: dict[Row, float] = {}
    for line in body.splitlines():
        doc = orjson.loads(line)
        labels = dict(doc["metric"])
        name = labels.pop("__name__")
        key = tuple(sorted(labels.items()))
        for ts, v in zip(doc["timestamps"], doc["values"], strict=True):
            out[(name, key, ts)] = float(v)
    return out


def assert_tiers_match_raw(
    raw: VictoriaMetrics, tiers: dict[str, VictoriaMetrics], host: str, start_ms: int
) -> None:
    end_ms = start_ms + 2 * 3600 * 1000
    raw_body = export(raw, host, start_ms, end_ms)
    assert raw_body, "no raw samples"
    for name, vm in tiers.items():
        want = expected_from_raw(raw_body, RESOLUTION_S[name] * 1000)
        got = stored(export(vm, host, start_ms, end_ms))
        assert got.keys() == want.keys(), f"tier {name}: series or buckets differ"
        for row, value in want.items():
            assert got[row] == pytest.approx(value, rel=1e-12), f"tier {name}: {row}"


def run_rollups(app: FastAPI, raw: VictoriaMetrics) -> None:
    raw.flush()
    job = app.state.storage.job
    while job.run_once(time.time()):
        pass
    assert len(app.state.storage.rollups) == 0


async def test_rollups_equal_raw_and_a_late_frame_repairs_its_buckets(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("rollup-late")
    start = base_ms()
    frames = make_frames(host, start, 12, seed=1)  # 12 minutes at 10 s
    late = frames.pop(4)
    async with serving(tier_settings(victoria_metrics, vm_tiers, tmp_path)) as (app, client):
        for frame in frames:
            await post(client, frame)
        run_rollups(app, victoria_metrics)
        assert_tiers_match_raw(victoria_metrics, vm_tiers, host, start)
        # Each tier keeps its recent rollup writes, to write them again if it restarts.
        watches = app.state.storage.watches
        assert [w.target for w in watches] == list(vm_tiers)
        assert all(len(w.recent) > 0 for w in watches)

        await post(client, late)  # an agent replaying its spool, hours late
        run_rollups(app, victoria_metrics)
    assert_tiers_match_raw(victoria_metrics, vm_tiers, host, start)


async def test_restart_mid_bucket_and_two_replicas(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("rollup-replicas")
    start = base_ms()
    frames = make_frames(host, start, 10, seed=2)
    a_state, b_state = tmp_path / "a", tmp_path / "b"
    # Replica A gets the first frames and stops before computing anything.
    async with serving(tier_settings(victoria_metrics, vm_tiers, a_state)) as (_app, client):
        for frame in frames[:3]:
            await post(client, frame)
    partial = export(victoria_metrics, host, start, start + 3600 * 1000)

    # A restarts on its state; replica B takes part of the same host's frames meanwhile.
    async with (
        serving(tier_settings(victoria_metrics, vm_tiers, a_state)) as (app_a, client_a),
        serving(tier_settings(victoria_metrics, vm_tiers, b_state)) as (app_b, client_b),
    ):
        assert len(app_a.state.storage.rollups) > 0  # the marks survived the restart
        for i, frame in enumerate(frames[3:]):
            await post(client_a if i % 2 else client_b, frame)
        run_rollups(app_b, victoria_metrics)
        run_rollups(app_a, victoria_metrics)
    assert_tiers_match_raw(victoria_metrics, vm_tiers, host, start)

    # A slow replica that computed the 5m bucket from partial raw data writes it only now:
    # the tier keeps the revision that saw more samples.
    width = RESOLUTION_S["5m"] * 1000
    stale = rollup_bucket(parse_export(partial, start, start + width), start, width)
    answer = requests.post(f"{vm_tiers['5m'].url}/api/v1/import", data=stale.body, timeout=10)
    assert answer.status_code == 204
    assert_tiers_match_raw(victoria_metrics, vm_tiers, host, start)


def test_the_tier_keeps_the_biggest_revision_whatever_the_write_order(
    vm_tiers: dict[str, VictoriaMetrics],
) -> None:
    """What the design relies on, checked on the real binary: per series and bucket,
    -dedup.minScrapeInterval keeps the sample with the biggest timestamp."""
    vm = vm_tiers["1m"]
    host = unique("rollup-revision")
    bucket = base_ms()
    for revision in (3, 7, 5, 1):
        line = {
            "metric": {"__name__": "node_load1", "host": host},
            "values": [float(revision)],
            "timestamps": [bucket + revision],
        }
        requests.post(f"{vm.url}/api/v1/import", data=orjson.dumps(line), timeout=10)
    got = stored(export(vm, host, bucket, bucket + 60_000))
    assert got == {("node_load1", (("host", host),), bucket + 7): 7.0}
