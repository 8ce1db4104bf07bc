"""The agent loses nothing: real agent processes, a real collector, a real VictoriaMetrics.

These tests use their own VictoriaMetrics without ``-dedup.minScrapeInterval``, so a sample
written twice shows up twice in ``/api/v1/export`` and "none twice" is really checked.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hostvitals.agent.config import SamplersConfig
from hostvitals.agent.spool import Spool
from hostvitals.agent.spool.format import HEADER_SIZE
from hostvitals.shared.codec import decode_frame
from tests.e2e.agent_support import (
    counter,
    counter_total,
    empty_spool_ticks,
    export,
    grid,
    last_empty_spool,
    latest,
    legitimate_gaps,
    settled_until,
    timestamps,
)
from tests.e2e.conftest import StartAgent, StartCollector
from tests.support.processes import VictoriaMetrics, free_port, wait_until

pytestmark = pytest.mark.e2e

OUTAGE_S = 60.0

# Short waits for a test; the defaults are for fleets (see docs/agent.md).
QUICK = {
    "HOSTVITALS_AGENT_CATCHUP_JITTER": "2",
    "HOSTVITALS_AGENT_RETRY_BACKOFF_MAX": "4",
}


@pytest.fixture
def raw_vm(vm_without_dedup: VictoriaMetrics) -> VictoriaMetrics:
    return vm_without_dedup


LOAD_SAMPLES = 3
"""node_load1, node_load5 and node_load15."""


def lost_runs(present: list[int]) -> list[list[int]]:
    """The runs of ticks missing between the sorted tick times ``present``."""
    return [list(range(a + 1000, b, 1000)) for a, b in itertools.pairwise(present) if b - a > 1000]


def skipped_in(skips: list[tuple[int, float]], gap: list[int]) -> float:
    """Ticks the agent counted as skipped within ``gap``, from its skipped-ticks counter
    (time, value) as of the tick before the gap and the first it reported after: a skip is
    counted at the next tick taken.
    """
    before = [value for at, value in skips if at < gap[0]]
    after = [value for at, value in skips if at > gap[-1]]
    assert after, "the agent reported nothing after a gap"
    return after[0] - (before[-1] if before else 0.0)


def now_ms() -> int:
    return int(time.time() * 1000)


def duplicates(values: list[int]) -> list[int]:
    return sorted(ts for ts, n in Counter(values).items() if n > 1)


def test_a_collector_outage_loses_nothing_even_when_the_agent_is_killed(
    start_collector: StartCollector,
    start_agent: StartAgent,
    raw_vm: VictoriaMetrics,
    tmp_path: Path,
    host_name: str,
) -> None:
    """Two agents sample at 1 s through a 60 s collector outage; one of them is killed with
    SIGKILL 20 s into it and restarted 10 s later. Afterwards every tick of node_load1 is in
    VictoriaMetrics exactly once, except the ticks taken while the killed agent was down.
    """
    collector_env = {"HOSTVITALS__STATE__DIR": str(tmp_path / "collector-state")}
    collector = start_collector(env=collector_env, vm_url=raw_vm.url)
    env = {**QUICK, "HOSTVITALS_AGENT_FLUSH_INTERVAL": "5"}
    steady, killed = f"{host_name}-steady", f"{host_name}-killed"
    agents = {host: start_agent(collector.url, host, env=env) for host in (steady, killed)}

    def both_report() -> bool:
        for proc in agents.values():
            assert proc.running(), proc.log_tail()
        return all(timestamps(raw_vm, host) for host in agents)

    wait_until(both_report, 30, "both agents to report", step=0.5)

    collector.process.stop()
    down_at = time.monotonic()
    time.sleep(20)
    agents[killed].kill()
    killed_ms = now_ms()
    time.sleep(10)
    restarted_ms = now_ms()
    agents[killed] = start_agent(collector.url, killed, env=env)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    start_collector(port=collector.port, env=collector_env, vm_url=raw_vm.url)
    end_ms = now_ms() // 1000 * 1000 + 3000

    def expected(host: str) -> set[int]:
        got = timestamps(raw_vm, host)
        ticks = grid(got[0], end_ms)
        if host == killed:  # the tick being sampled at the kill, and those while it was down
            after = [ts for ts in got if ts > killed_ms]
            resumed = after[0] if after else end_ms
            ticks -= set(range(killed_ms - 1000, resumed))
        return ticks

    def caught_up() -> bool:
        for proc in agents.values():
            assert proc.running(), proc.log_tail()
        for host in agents:
            missing = expected(host) - set(timestamps(raw_vm, host))
            if len(missing) > legitimate_gaps(raw_vm, host):
                return False
            if latest(raw_vm, host, "hostvitals_agent_spool_frames") != 0:
                return False
        return True

    wait_until(caught_up, 120, "the agents to catch up", step=1.0)

    for host in agents:
        got = timestamps(raw_vm, host)
        assert duplicates(got) == [], f"{host}: samples written twice"
        missing = sorted(expected(host) - set(got))
        gaps = legitimate_gaps(raw_vm, host)
        assert len(missing) <= gaps, f"{host}: {len(missing)} ticks lost ({missing[:10]}...)"
        for reason in ("spool_full", "expired", "rejected"):
            dropped = counter(raw_vm, host, "hostvitals_agent_dropped_samples_total", reason=reason)
            assert dropped == 0, (host, reason)
    # the killed agent came back promptly and with the same identity
    resumed = [ts for ts in timestamps(raw_vm, killed) if ts > killed_ms]
    assert resumed and resumed[0] - restarted_ms < 10_000
    log = agents[killed].log_path.read_text()
    assert "rebuilt" in log  # the frame it was building when killed came from the journal


def test_a_full_spool_drops_the_oldest_frames_and_counts_every_sample(
    start_collector: StartCollector,
    start_agent: StartAgent,
    raw_vm: VictoriaMetrics,
    tmp_path: Path,
    host_name: str,
) -> None:
    """Frames of one tick each, a 16 KiB spool and a 20 s outage: the oldest frames of the
    outage are dropped, and the drop counter equals the samples of exactly those ticks.
    """
    collector_env = {"HOSTVITALS__STATE__DIR": str(tmp_path / "collector-state")}
    collector = start_collector(env=collector_env, vm_url=raw_vm.url)
    only_load_and_self = {
        f"HOSTVITALS_AGENT_SAMPLERS__{name.upper()}__ENABLED": "false"
        for name in (f.name for f in dataclasses.fields(SamplersConfig))
        if name not in ("load", "agent")
    }
    env = {
        **QUICK,
        **only_load_and_self,
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_SPOOL_MAX_BYTES": "16384",
    }
    agent = start_agent(collector.url, host_name, env=env)
    wait_until(lambda: len(timestamps(raw_vm, host_name)) >= 5, 30, "the first ticks", step=0.5)
    # Up to where the agent had delivered everything before the outage, by its own report: on
    # a loaded machine it may be seconds behind, and the frames it had not delivered yet are
    # the oldest in the spool when it fills, so the first to go.
    frontier: list[int] = []

    def reported_empty() -> bool:
        empty = last_empty_spool(export(raw_vm, f'{{host="{host_name}"}}'))
        frontier[:] = [] if empty is None else [empty]
        return empty is not None

    wait_until(reported_empty, 30, "an empty spool before the outage", step=0.5)

    collector.process.stop()
    time.sleep(20)
    restart_ms = now_ms()
    start_collector(port=collector.port, env=collector_env, vm_url=raw_vm.url)
    up_ms = now_ms()

    # One reading of every series of the host, up to a tick all of them had reached and that
    # counts every drop: the agent reported its spool empty by then (settled_until).
    reading: list[tuple[list[dict[str, Any]], int]] = []

    def caught_up() -> bool:
        assert agent.running(), agent.log_tail()
        snapshot = export(raw_vm, f'{{host="{host_name}"}}')
        until = settled_until(snapshot, up_ms + 2000)
        if until is not None:
            reading.append((snapshot, until))
        return until is not None

    wait_until(caught_up, 60, "the agent to catch up", step=0.5)
    ((snapshot, until),) = reading

    def points(name: str, **labels: str) -> list[tuple[int, float]]:
        (series,) = [
            s
            for s in snapshot
            if s["metric"]["__name__"] == name
            and all(s["metric"].get(k) == v for k, v in labels.items())
        ]
        pairs = zip(series["timestamps"], series["values"], strict=True)
        return sorted((ts, v) for ts, v in pairs if ts <= until)

    got = [ts for ts, _ in points("node_load1")]
    assert duplicates(got) == []
    # Each tick carries 3 load samples and the agent's own. On a machine short of CPU the
    # agent may skip a tick, or a sampler may miss one; it counts both, in the frames of its
    # next ticks, so a gap is dropped ticks plus the skips counted across it.
    per_tick = Counter(ts for series in snapshot for ts in series["timestamps"] if ts <= until)
    skips = points("hostvitals_agent_ticks_skipped_total")
    with_own = {ts for ts, _ in skips}
    steady = {per_tick[ts] for ts in got[2:] if ts in with_own}
    assert len(steady) == 1, steady
    samples = steady.pop()
    gaps = lost_runs(sorted(per_tick))
    outage_gaps: list[tuple[list[int], int]] = []  # each with its ticks dropped, not skipped
    for gap in gaps:
        skipped = skipped_in(skips, gap)
        assert 0 <= skipped <= len(gap), (gap, skipped)
        if skipped < len(gap):
            outage_gaps.append((gap, len(gap) - int(skipped)))
    assert outage_gaps, "the spool never overflowed"
    assert outage_gaps[0][0][0] >= frontier[0]  # nothing delivered before the outage went
    assert outage_gaps[-1][0][-1] < restart_ms  # only frames of the outage were dropped
    dropped_ticks = sum(n for _, n in outage_gaps)
    # Samples a missed sampler never took are not among the dropped ones.
    unseen = {
        sampler: counter_total(
            v for _, v in points("hostvitals_agent_sampler_missed_total", sampler=sampler)
        )
        - len(seen)
        for sampler, seen in (("load", with_own - set(got)), ("agent", set(got) - with_own))
    }
    drops = points("hostvitals_agent_dropped_samples_total", reason="spool_full")
    dropped = counter_total(v for _, v in drops)
    # Nothing is dropped once the spool was empty again.
    drained = min(ts for ts in empty_spool_ticks(snapshot) if up_ms < ts <= until)
    assert {v for ts, v in drops if ts >= drained} == {drops[-1][1]}, (drained, drops)
    assert dropped == (
        dropped_ticks * samples
        - unseen["load"] * LOAD_SAMPLES
        - unseen["agent"] * (samples - LOAD_SAMPLES)
    ), (dropped, dropped_ticks, samples, unseen)
    # The oldest frames went first. While no collector runs no round succeeds, so the ticks
    # lost by then (as the frames built then count them) are one run from the outage's
    # start. The spool is still full when the collector is back and drops its oldest frame
    # at each tick until the backlog is sent: a frame dropped while its round is on its way
    # still arrives (and is not counted), so after the return the ticks lost are still the
    # outage's, after that run, but not necessarily next to it.
    during = max((v for ts, v in drops if ts < restart_ms), default=0.0)
    assert during > 0
    # a tick holds at most `samples`: at least this many ticks went during the outage
    assert outage_gaps[0][1] >= math.ceil(during / samples), (outage_gaps, during)
    # warned about it, once (the warning is rate-limited to one a minute)
    assert agent.log_path.read_text().count("is full") == 1


def test_a_torn_tail_and_a_flipped_byte_cost_only_the_damaged_frames(
    start_collector: StartCollector,
    start_agent: StartAgent,
    raw_vm: VictoriaMetrics,
    tmp_path: Path,
    host_name: str,
) -> None:
    """Frames spooled while no collector answers; the agent stops; one record gets a flipped
    byte and the last one is cut in half. On restart every other frame is delivered, the two
    damaged ones are skipped and counted, and the agent carries on.
    """
    state = tmp_path / "agent-state"
    env = {
        **QUICK,
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "2",
        "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": "2",
        "HOSTVITALS_AGENT_CATCHUP_JITTER": "0",
    }
    nowhere = f"http://127.0.0.1:{free_port()}"
    first = start_agent(nowhere, host_name, state_dir=state, env=env)
    spool_dir = state / "spool"

    def enough_frames() -> bool:
        assert first.running(), first.log_tail()
        return sum(p.stat().st_size for p in spool_dir.glob("*.seg")) > 0 and (
            time.monotonic() - started > 9
        )

    started = time.monotonic()
    wait_until(enough_frames, 30, "frames in the spool", step=0.5)
    assert first.stop() == 0

    with Spool(spool_dir) as spool:
        records = spool.peek(max_records=1000)
    frames = [decode_frame(r.payload) for r in records]
    assert len(frames) >= 4, len(frames)
    (segment,) = spool_dir.glob("*.seg")
    data = bytearray(segment.read_bytes())
    flipped = records[1]
    data[flipped.id.offset + HEADER_SIZE + len(flipped.payload) // 2] ^= 0x01
    torn = records[-1]
    del data[torn.id.offset + HEADER_SIZE + len(torn.payload) // 2 :]
    segment.write_bytes(bytes(data))

    collector = start_collector(vm_url=raw_vm.url)
    second = start_agent(collector.url, host_name, state_dir=state, env=env)
    intact = [f for i, f in enumerate(frames) if i not in (1, len(frames) - 1)]
    wanted = {ts for f in intact for ts in f.timestamps_ms}
    lost = set(frames[1].timestamps_ms) | set(frames[-1].timestamps_ms)

    def delivered() -> bool:
        assert second.running(), second.log_tail()
        got = set(timestamps(raw_vm, host_name))
        return wanted <= got and max(got) > max(wanted | lost) + 2000

    wait_until(delivered, 60, "the intact frames", step=0.5)
    got = timestamps(raw_vm, host_name)
    assert duplicates(got) == []
    assert not lost & set(got)
    wait_until(
        lambda: latest(raw_vm, host_name, "hostvitals_agent_spool_corrupt_total") == 2,
        30,
        "the corruption count",
        step=0.5,
    )
    assert "damaged" in second.log_path.read_text()
