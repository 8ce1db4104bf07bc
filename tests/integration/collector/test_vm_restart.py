"""Nothing acknowledged is lost when VictoriaMetrics dies uncleanly (kill -9) right after a write.

VictoriaMetrics acknowledges an import while the rows are still in memory; a kill -9 a moment
later loses them. The collector keeps the last seconds of writes and writes them again when
VictoriaMetrics' start time changes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hostvitals.shared.protocol import Frame
from tests.integration.collector.test_ingest_victoriametrics import expected, exported, unique
from tests.support.collector_app import post_frame, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


def merged(frames: list[Frame]) -> dict[tuple[tuple[str, str], ...], list[tuple[int, float]]]:
    out: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for frame in frames:
        for key, points in expected(frame).items():
            out[key] = sorted([*out.get(key, []), *points])
    return out


async def test_writes_acknowledged_before_a_kill_9_are_written_again(tmp_path: Path) -> None:
    vm = VictoriaMetrics(data_dir=tmp_path / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
    vm.start()
    host = unique("restart")
    ticks = ticks_ending_now(6)
    frames = [catalogue_frame(host, ticks[i * 2 : i * 2 + 2], seq=i) for i in range(3)]
    app_settings = settings(
        victoriametrics={"url": vm.url, "restart_check_interval_s": 0.2},
        tiers={"rollups": []},
    )
    try:
        async with serving(app_settings) as (app, client):
            registry = app.state.metrics.registry
            # Let the watch learn this VictoriaMetrics' start time before anything happens.
            await asyncio.sleep(0.5)
            for frame in frames:
                assert (await post_frame(client, frame)).status_code == 204
            assert vm.process is not None
            vm.process.kill()  # at once: the rows are still in VictoriaMetrics' memory
            # The start time has a resolution of a second: the new process must differ.
            await asyncio.sleep(1.1)
            vm.start()

            def resent() -> float:
                value = registry.get_sample_value(
                    "hostvitals_collector_vm_resent_bytes_total", {"target": "raw"}
                )
                return value or 0.0

            deadline = time.monotonic() + 30
            while resent() == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert resent() > 0
            assert (
                registry.get_sample_value(
                    "hostvitals_collector_vm_restarts_detected_total", {"target": "raw"}
                )
                == 1
            )
            assert exported(vm, host) == merged(frames)
    finally:
        vm.stop()


async def test_without_the_resend_a_kill_9_loses_acknowledged_rows(tmp_path: Path) -> None:
    """The loss the re-send exists for, shown on this VictoriaMetrics (if this starts to fail,
    VictoriaMetrics got durable acknowledgements and the re-send can be reconsidered)."""
    vm = VictoriaMetrics(data_dir=tmp_path / "vm", extra_args=("-dedup.minScrapeInterval=1ms",))
    vm.start()
    host = unique("lost")
    frame = catalogue_frame(host, ticks_ending_now(2))
    app_settings = settings(
        victoriametrics={"url": vm.url, "resend_window_s": 0}, tiers={"rollups": []}
    )
    try:
        async with serving(app_settings) as (_app, client):
            assert (await post_frame(client, frame)).status_code == 204
            assert vm.process is not None
            vm.process.kill()
            vm.start()
            await asyncio.sleep(1.0)
            # What survived is part of what was acknowledged, and some of it is gone.
            survived, written = exported(vm, host), expected(frame)
            assert set(survived) <= set(written)
            assert all(set(points) <= set(written[key]) for key, points in survived.items())
            assert sum(map(len, survived.values())) < sum(map(len, written.values()))
    finally:
        vm.stop()
