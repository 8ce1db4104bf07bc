"""SIGTERM the collector while an agent sends, start it again: no sample lost or duplicated."""

from __future__ import annotations

import contextlib
import itertools
import signal
import time

import pytest

from hostvitals.chaos.accounting import raw_timestamps
from hostvitals.chaos.procs import wait_until
from hostvitals.chaos.stack import Stack, StackShape

pytestmark = pytest.mark.integration

INTERVAL_MS = 1000


def test_a_sigterm_mid_flow_loses_and_duplicates_nothing() -> None:
    shape = StackShape(interval_s=1, agents=1, tiers=(("1m", 60),))
    with Stack.open(shape, "drain") as stack:
        host = stack.agents[0].host
        wait_until(lambda: len(raw_timestamps(stack.raw, host)) >= 5, 60, "first samples")
        collector = stack.collector
        assert collector is not None and collector.proc is not None
        collector.proc.send_signal(signal.SIGTERM)
        status = collector.proc.wait(30)
        assert status == -signal.SIGTERM, collector.log_tail()  # graceful: uvicorn re-raises
        stopped_ms = time.time() * 1000
        time.sleep(3)  # the agent spools while no collector runs
        stack.start_collector()

        def gaps() -> list[tuple[float, int]]:
            stamps = raw_timestamps(stack.raw, host)
            late = stamps and stamps[-1] > stopped_ms + 3 * INTERVAL_MS
            holes = [(a - stopped_ms, b - a) for a, b in itertools.pairwise(stamps) if b - a > 1500]
            return holes if late else [(0.0, -1)]

        # Live frames go first; the spool is sent behind them, so wait for the holes to fill.
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not gaps(), 60, "the agent's spool after the restart", step=0.5)
        assert not gaps(), f"samples lost (ms after the stop, gap): {gaps()}"
        stamps = raw_timestamps(stack.raw, host)
        assert len(stamps) == len(set(stamps)), "duplicated samples"
        assert "Shutting down" in collector.log_tail(200)
