"""While someone watches a host, its live view is at most 2 s old; unwatched, frames come every
flush_interval again. A real collector and a real agent at --interval 1 with the default
flush_interval (10 s) and the default collector settings.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import StartAgent, StartCollector
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

POLL_S = 0.5
WATCH_S = 20.0
MAX_AGE_P99_S = 2.0


def host_row(url: str, host: str) -> dict[str, Any] | None:
    """The host's row in /api/v1/hosts (which does not count as watching it)."""
    rows = requests.get(f"{url}/api/v1/hosts", timeout=5).json()["data"]
    return next((row for row in rows if row["host"] == host), None)


def newest_tick(url: str, host: str) -> float:
    """Poll current?host= like a dashboard: the newest tick's time (Unix seconds)."""
    answer = requests.get(f"{url}/api/v1/metrics/current", params={"host": host}, timeout=5)
    assert answer.status_code == 200, answer.text
    (snapshot,) = answer.json()["data"]
    return float(snapshot["timestamp"])


def test_a_watched_host_is_live_within_two_seconds_and_unwatched_returns_to_batches(
    start_collector: StartCollector, start_agent: StartAgent, host_name: str
) -> None:
    collector = start_collector()
    agent = start_agent(collector.url, host_name, interval=1)

    def reported() -> bool:
        assert agent.running(), agent.log_tail()
        return host_row(collector.url, host_name) is not None

    wait_until(reported, 30, f"{host_name}'s first frame", step=0.5)

    # Someone opens the host page. The agent hears it with the answer to its next frame, at
    # most one flush_interval away; from then on a frame arrives every tick.
    seen: list[float] = []

    def switched() -> bool:
        seen.append(newest_tick(collector.url, host_name))
        ticks = sorted(set(seen))
        time.sleep(POLL_S)
        return len(ticks) >= 3 and ticks[-1] - ticks[-2] == ticks[-2] - ticks[-3] == 1.0

    wait_until(switched, 25, "frames of one tick", step=0)

    ages: list[float] = []
    ticks: set[float] = set()
    end = time.monotonic() + WATCH_S
    while time.monotonic() < end:
        tick = newest_tick(collector.url, host_name)
        ages.append(time.time() - tick)
        ticks.add(tick)
        time.sleep(POLL_S)
    ages.sort()
    p99 = ages[min(len(ages) - 1, round(0.99 * (len(ages) - 1)))]
    summary = f"age p50 {statistics.median(ages):.2f} s, p99 {p99:.2f} s, max {ages[-1]:.2f} s"
    assert p99 <= MAX_AGE_P99_S, summary
    assert len(ticks) >= WATCH_S - 3, f"{len(ticks)} distinct ticks in {WATCH_S:g} s"

    # Nobody watches any more: the mark lapses (live.watch_ttl_s, 10 s), the next answer does
    # not ask, and frames span flush_interval again. The host stays up meanwhile.
    arrivals: list[float] = []

    def batched() -> bool:
        row = host_row(collector.url, host_name)
        assert row is not None and row["status"] == "up", row
        if not arrivals or row["timestamp"] != arrivals[-1]:
            arrivals.append(row["timestamp"])
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        return len(gaps) >= 2 and min(gaps[-2:]) >= 9.0

    wait_until(batched, 60, "frames of flush_interval again", step=POLL_S)
    assert agent.running(), agent.log_tail()
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps[0] == 1.0, f"still one tick per frame right after the last poll: {gaps}"
    assert max(gaps[-2:]) <= 11.0, gaps
