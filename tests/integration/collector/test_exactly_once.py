"""Exactly-once effect against a real VictoriaMetrics: duplicates, concurrent duplicates,
a collector restart between copies, replays out of order, and two replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import FastAPI

from hostvitals.collector.config.settings import Settings
from tests.integration.collector.test_ingest_victoriametrics import expected, exported, unique
from tests.support.collector_app import post_frame, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


def app_settings(vm: VictoriaMetrics, state_dir: Path | None = None, delay_ms: int = 0) -> Settings:
    return settings(
        victoriametrics={"url": vm.url, "write_max_delay_ms": delay_ms},
        state={"dir": state_dir},
        tiers={"rollups": []},
    )


def counter(app: FastAPI, name: str) -> float:
    value = app.state.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else float(value)


async def test_a_frame_sent_twice_is_written_once(victoria_metrics: VictoriaMetrics) -> None:
    host = unique("eo-dup")
    frame = catalogue_frame(host, ticks_ending_now(3), seq=5)
    async with serving(app_settings(victoria_metrics)) as (app, client):
        assert (await post_frame(client, frame)).status_code == 204
        assert (await post_frame(client, frame)).status_code == 204
        assert counter(app, "hostvitals_collector_ingest_frames_total") == 1
        assert counter(app, "hostvitals_collector_ingest_duplicates_total") == 1
        assert counter(app, "hostvitals_collector_vm_write_frames_total") == 1
    assert exported(victoria_metrics, host) == expected(frame)


async def test_concurrent_copies_are_written_once(victoria_metrics: VictoriaMetrics) -> None:
    host = unique("eo-concurrent")
    frame = catalogue_frame(host, ticks_ending_now(3), seq=9)
    # The first copy waits 300 ms in the group commit: the others arrive while it is in flight.
    async with serving(app_settings(victoria_metrics, delay_ms=300)) as (app, client):
        answers = await asyncio.gather(*(post_frame(client, frame) for _ in range(6)))
        assert [a.status_code for a in answers] == [204] * 6
        assert counter(app, "hostvitals_collector_ingest_frames_total") == 1
        assert counter(app, "hostvitals_collector_ingest_duplicates_total") == 5
        assert counter(app, "hostvitals_collector_vm_write_frames_total") == 1
    assert exported(victoria_metrics, host) == expected(frame)


async def test_restart_between_copies_and_out_of_order_replay(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    host = unique("eo-restart")
    ticks = ticks_ending_now(6)
    frames = [catalogue_frame(host, ticks[i * 2 : i * 2 + 2], seq=i) for i in range(3)]
    state = tmp_path / "state"
    async with serving(app_settings(victoria_metrics, state)) as (_app, client):
        for i in (2, 0, 1):  # a spool drained out of order
            assert (await post_frame(client, frames[i])).status_code == 204
    # A new collector process on the same state directory.
    async with serving(app_settings(victoria_metrics, state)) as (app, client):
        for i in (1, 2, 0):
            assert (await post_frame(client, frames[i])).status_code == 204
        assert counter(app, "hostvitals_collector_ingest_duplicates_total") == 3
        assert counter(app, "hostvitals_collector_samples_written_total") == 0
    stored = exported(victoria_metrics, host)
    merged = expected(frames[0])
    for frame in frames[1:]:
        for key, points in expected(frame).items():
            merged[key] = sorted(merged.get(key, []) + points)
    assert stored == merged


async def test_two_replicas_writing_the_same_frame_store_it_once(
    victoria_metrics: VictoriaMetrics, tmp_path: Path
) -> None:
    # Each replica has its own ledger: both write, and VictoriaMetrics' dedup keeps one copy.
    host = unique("eo-replicas")
    frame = catalogue_frame(host, ticks_ending_now(3), seq=1)
    async with (
        serving(app_settings(victoria_metrics, tmp_path / "a")) as (app_a, client_a),
        serving(app_settings(victoria_metrics, tmp_path / "b")) as (app_b, client_b),
    ):
        answers = await asyncio.gather(post_frame(client_a, frame), post_frame(client_b, frame))
        assert [a.status_code for a in answers] == [204, 204]
        written = counter(app_a, "hostvitals_collector_vm_write_frames_total") + counter(
            app_b, "hostvitals_collector_vm_write_frames_total"
        )
        assert written == 2
    assert exported(victoria_metrics, host) == expected(frame)
