"""A full disk under a real agent: its state directory on a 2 MiB tmpfs, filled to the last
byte, then freed. The agent keeps running, what fits is delivered, the samples it could not
spool are counted exactly as disk_full, and spooling resumes without a restart.

Needs root (``mount -t tmpfs``); skipped without it.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostvitals.agent.config import SamplersConfig
from tests.e2e.agent_support import counter, export, grid, latest, timestamps
from tests.e2e.conftest import StartAgent, StartCollector
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.e2e

FULL_S = 10.0


@pytest.fixture
def raw_vm(vm_without_dedup: VictoriaMetrics) -> VictoriaMetrics:
    return vm_without_dedup


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the file system has not one byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    chunk = b"\0" * 65_536
    try:
        while chunk:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_full_disk_drops_and_counts_what_it_cannot_spool_and_spooling_resumes(
    start_collector: StartCollector,
    start_agent: StartAgent,
    raw_vm: VictoriaMetrics,
    tmp_path: Path,
    small_disk: Path,
    host_name: str,
) -> None:
    collector = start_collector(
        env={"HOSTVITALS__STATE__DIR": str(tmp_path / "collector-state")}, vm_url=raw_vm.url
    )
    only_load_and_self = {
        f"HOSTVITALS_AGENT_SAMPLERS__{name.upper()}__ENABLED": "false"
        for name in (f.name for f in dataclasses.fields(SamplersConfig))
        if name not in ("load", "agent")
    }
    env = {
        **only_load_and_self,
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": "1",
    }
    agent = start_agent(collector.url, host_name, state_dir=small_disk / "state", env=env)
    wait_until(lambda: len(timestamps(raw_vm, host_name)) >= 5, 30, "the first ticks", step=0.5)

    filler = small_disk / "filler"
    fill(filler)
    full_ms = now_ms()
    time.sleep(FULL_S)
    assert agent.running(), agent.log_tail()
    filler.unlink()
    freed_ms = now_ms()

    def resumed() -> bool:
        assert agent.running(), agent.log_tail()
        got = timestamps(raw_vm, host_name)
        return got[-1] > freed_ms + 3000 and "writing again" in agent.log_path.read_text()

    wait_until(resumed, 30, "spooling to resume", step=0.5)
    time.sleep(2)  # the agent's counters of the last ticks reach the collector

    got = timestamps(raw_vm, host_name)
    assert len(got) == len(set(got)), "samples written twice"
    missing = sorted(grid(got[0], got[-1]) - set(got))
    assert missing, "the disk never refused a frame"
    # the frames refused are one block, within the time the disk was full
    assert missing == list(range(missing[0], missing[-1] + 1000, 1000))
    assert full_ms - 2000 <= missing[0] and missing[-1] <= freed_ms + 2000
    per_tick = Counter(
        ts for series in export(raw_vm, f'{{host="{host_name}"}}') for ts in series["timestamps"]
    )
    steady = {per_tick[ts] for ts in got[2:]}
    assert len(steady) == 1, steady
    dropped = counter(
        raw_vm, host_name, "hostvitals_agent_dropped_samples_total", reason="disk_full"
    )
    assert dropped == len(missing) * steady.pop()
    # the gauge said so, and says so no more
    flags = export(raw_vm, f'hostvitals_agent_disk_full{{host="{host_name}"}}')
    assert flags and max(flags[0]["values"]) == 1
    assert latest(raw_vm, host_name, "hostvitals_agent_disk_full") == 0
    log = agent.log_path.read_text()
    assert log.count("dropping new frames") == 1  # once for the episode
