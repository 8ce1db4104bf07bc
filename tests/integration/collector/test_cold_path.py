"""The cold path against real VictoriaMetrics tier instances: frames older than the raw tier's
horizon end up in every rollup tier with the values computed directly from their samples,
counted once, whatever the order of their pieces, across a collector restart, and for a
frame that straddles the horizon (partly raw tier and rollup job, partly cold path)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import requests

from hostvitals.collector.config.settings import Settings
from hostvitals.collector.ingest.importlines import frame_to_import_lines
from hostvitals.collector.rollups.coldpath import horizon_ms
from hostvitals.collector.rollups.rollup import parse_export, rollup_bucket
from hostvitals.shared.catalogue import Kind, MetricSpec
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series, Value
from tests.conftest import ROLLUP_TIERS
from tests.integration.collector.test_ingest_victoriametrics import unique
from tests.integration.collector.test_rollups import (
    RESOLUTION_S,
    Row,
    expected_from_raw,
    export,
    post,
    run_rollups,
    stored,
)
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame
from tests.support.processes import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration

METRICS = ("node_load1", "node_memory_MemAvailable_bytes", "node_cpu_seconds_total")
DAY_MS = 86_400_000
RETENTION_DAYS = {"1m": 7, "5m": 30, "1h": 365}


def cold_settings(
    raw: VictoriaMetrics, tiers: dict[str, VictoriaMetrics], state: Path, **tier_urls: str
) -> Settings:
    return settings(
        victoriametrics={"url": raw.url},
        state={"dir": state},
        tiers={
            "rollups": [
                {
                    "name": n,
                    "url": tier_urls.get(n, tiers[n].url),
                    "resolution_s": r,
                    "retention_days": RETENTION_DAYS[n],
                }
                for n, r, _ in ROLLUP_TIERS
            ],
            "settle_s": 0,
            "rollup_interval_s": 3600,  # the tests run the job's passes themselves
        },
    )


def random_frame(host: str, ticks: list[int], seed: int) -> Frame:
    rng = random.Random(seed)
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def value(spec: MetricSpec, labels: dict[str, str], _tick: int) -> Value:
        if rng.random() < 0.1:
            return None  # gaps are not samples
        if spec.kind is Kind.COUNTER:
            key = (spec.name, tuple(sorted(labels.items())))
            counters[key] = counters.get(key, 0.0) + rng.uniform(0, 5)
            return counters[key]
        return rng.uniform(0, 100) if spec.name == "node_load1" else rng.randrange(1 << 30)

    return catalogue_frame(host, ticks, interval_s=10, values=value, metrics=METRICS)


def pieces(frame: Frame, size: int) -> list[Frame]:
    """The frame cut into frames of ``size`` ticks, as an agent's spool would hold it."""
    out = []
    for seq, cut in enumerate(range(0, len(frame.timestamps_ms), size)):
        out.append(
            Frame(
                agent_id=frame.agent_id,
                host=frame.host,
                seq=seq,
                sent_at_ms=frame.timestamps_ms[min(cut + size, len(frame.timestamps_ms)) - 1],
                interval_s=frame.interval_s,
                timestamps_ms=frame.timestamps_ms[cut : cut + size],
                series=[
                    Series(s.metric, s.labels, s.values[cut : cut + size]) for s in frame.series
                ],
            )
        )
    return out


def newest_revisions(body: bytes, resolution_s: int) -> dict[Row, float]:
    """Per series and bucket the sample with the biggest timestamp, which is what the tier's
    ``-dedup.minScrapeInterval`` keeps (``/api/v1/export`` may still list older revisions
    written into another part until the parts are merged)."""
    width = resolution_s * 1000
    newest: dict[tuple[str, tuple[tuple[str, str], ...], int], int] = {}
    rows = stored(body)
    for name, labels, ts in rows:
        key = (name, labels, ts // width)
        newest[key] = max(newest.get(key, ts), ts)
    return {(n, lab, ts): rows[(n, lab, ts)] for (n, lab, _), ts in newest.items()}


def assert_tiers_hold(
    tiers: dict[str, VictoriaMetrics], frame: Frame, start_ms: int, end_ms: int
) -> None:
    """Every tier holds exactly the rollups computed here from the frame's samples."""
    samples = frame_to_import_lines(frame).body
    for name, vm in tiers.items():
        want = expected_from_raw(samples, RESOLUTION_S[name] * 1000)
        # VictoriaMetrics registers new series in its per-day index in the background, so
        # freshly written old-dated series can take a moment to become searchable.
        deadline = time.monotonic() + 10
        while True:
            got = newest_revisions(export(vm, frame.host, start_ms, end_ms), RESOLUTION_S[name])
            if got.keys() == want.keys() or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert got.keys() == want.keys(), f"tier {name}: series or buckets differ"
        for row, value in want.items():
            # VictoriaMetrics keeps about 12 significant decimal digits of a value.
            assert got[row] == pytest.approx(value, rel=1e-11), f"tier {name}: {row}"


def two_days_ago() -> tuple[int, list[int]]:
    """Ticks every 10 s over 25 minutes, starting 170 s after an hour boundary two days ago:
    pieces of 7 ticks cut across 1-minute and 5-minute buckets."""
    start = (int(time.time()) // 3600 * 3600 - 2 * 86_400 + 170) * 1000
    return start, [start + 10_000 * i for i in range(150)]


async def test_a_two_day_old_frame_in_pieces_out_of_order_with_a_duplicate(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("cold-pieces")
    start, ticks = two_days_ago()
    frame = random_frame(host, ticks, seed=3)
    parts = pieces(frame, 7)
    order = list(range(len(parts)))
    random.Random(4).shuffle(order)
    order.insert(5, order[2])  # one piece sent twice
    async with serving(cold_settings(victoria_metrics, vm_tiers, tmp_path)) as (app, client):
        for i in order:
            await post(client, parts[i])
        cold = app.state.storage.cold
        assert len(cold) > 0
        assert len(app.state.storage.rollups) == 0  # nothing for the rollup job
    assert_tiers_hold(vm_tiers, frame, start - 3600_000, start + 3 * 3600_000)
    # The raw tier cannot hold these ticks: none was written there.
    assert export(victoria_metrics, host, start - 3600_000, start + 3 * 3600_000) == b""


async def test_a_restart_in_the_middle_of_cold_buckets_keeps_the_exact_values(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("cold-restart")
    start, ticks = two_days_ago()
    frame = random_frame(host, ticks[:60], seed=5)
    parts = pieces(frame, 7)
    config = cold_settings(victoria_metrics, vm_tiers, tmp_path)
    async with serving(config) as (_app, client):
        for part in parts[::2]:
            await post(client, part)
    async with serving(config) as (app, client):
        assert len(app.state.storage.cold) > 0  # the partials survived the restart
        await post(client, parts[0])  # an unacknowledged resend after the restart
        for part in parts[1::2]:
            await post(client, part)
    assert_tiers_hold(vm_tiers, frame, start - 3600_000, start + 3 * 3600_000)


async def test_a_frame_straddling_the_horizon_lands_in_both_paths(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("cold-straddle")
    before = horizon_ms(int(time.time() * 1000), 86_400, 3600)
    # 30 s apart, 20 s clear of the horizon: the split is known unless posting takes 20 s.
    ticks = [before + 20_000 + 30_000 * k for k in range(-40, 40)]
    frame = random_frame(host, ticks, seed=6)
    async with serving(cold_settings(victoria_metrics, vm_tiers, tmp_path)) as (app, client):
        await post(client, frame)
        after = horizon_ms(int(time.time() * 1000), 86_400, 3600)
        assert len(app.state.storage.cold) > 0
        assert len(app.state.storage.rollups) > 0
        run_rollups(app, victoria_metrics)
    span = (ticks[0] - 2 * 3600_000, ticks[-1] + 2 * 3600_000)
    raw = stored(export(victoria_metrics, host, *span))
    raw_ticks = {ts for (_name, _labels, ts) in raw}
    assert raw_ticks == {t for t in ticks if t >= after}
    assert_tiers_hold(vm_tiers, frame, *span)


async def test_a_merge_starts_from_the_value_already_in_the_tier(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    """A bucket rolled up before it crossed the horizon (the start of an agent's outage), then
    completed by the cold path once the rest arrives days later."""
    host = unique("cold-seed")
    start, ticks = two_days_ago()
    frame = random_frame(host, ticks[:40], seed=7)
    early, late = pieces(frame, 25)
    # What the rollup job wrote while the early ticks were recent: their own rollups.
    for name, vm in vm_tiers.items():
        width = RESOLUTION_S[name] * 1000
        raw = parse_export(frame_to_import_lines(early).body, 0, 2**62)
        by_bucket: dict[int, dict[tuple[tuple[str, str], ...], dict[int, float]]] = {}
        for key, samples in raw.items():
            for ts, v in samples.items():
                by_bucket.setdefault(ts // width * width, {}).setdefault(key, {})[ts] = v
        for bucket, series in by_bucket.items():
            body = rollup_bucket(series, bucket, width).body
            answer = requests.post(f"{vm.url}/api/v1/import", data=body, timeout=10)
            assert answer.status_code == 204
        vm.flush()
    async with serving(cold_settings(victoria_metrics, vm_tiers, tmp_path)) as (_app, client):
        await post(client, late)
    assert_tiers_hold(vm_tiers, frame, start - 3600_000, start + 3 * 3600_000)


async def test_a_tier_that_cannot_be_written_answers_503_and_merges_nothing(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("cold-down")
    start, ticks = two_days_ago()
    frame = random_frame(host, ticks[:30], seed=8)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = cold_settings(victoria_metrics, vm_tiers, tmp_path, **{"1h": down})
    async with serving(config) as (app, client):
        answer = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert answer.status_code == 503, answer.text
        assert "rollup tier 1h" in answer.json()["error"]
        assert answer.headers["Retry-After"]
        assert len(app.state.storage.cold) == 0
    # The agent retries once the tier is back: counted once.
    async with serving(cold_settings(victoria_metrics, vm_tiers, tmp_path)) as (app, client):
        await post(client, frame)
        await post(client, frame)
        # A frame merged whose acknowledgement was lost (the ledger never saw it): the
        # cold path's own record keeps it from counting twice.
        assert app.state.storage.cold.apply(frame, int(time.time() * 1000)) == 0
    assert_tiers_hold(vm_tiers, frame, start - 3600_000, start + 3 * 3600_000)


async def test_ticks_past_every_window_are_refused_with_422(
    victoria_metrics: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics], tmp_path: Path
) -> None:
    host = unique("cold-too-old")
    old = int(time.time() * 1000) - 8 * DAY_MS
    frame = catalogue_frame(host, [old, old + 10_000], metrics=("node_load1",))
    async with serving(cold_settings(victoria_metrics, vm_tiers, tmp_path)) as (_app, client):
        answer = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
    assert answer.status_code == 422
    assert "too old" in answer.json()["error"]
