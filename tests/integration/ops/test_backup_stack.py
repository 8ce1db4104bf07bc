"""A running stack with an agent sending is backed up, destroyed and restored into fresh
stores and state; history and credentials come back, and the agent's spool fills the gap
while the collector is down. Prints the measured RTO and RPO (docs/operations.md)."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hostvitals.chaos.accounting import raw_timestamps
from hostvitals.chaos.procs import command, wait_until
from hostvitals.chaos.stack import Stack, StackShape

pytestmark = pytest.mark.integration

INTERVAL_MS = 1000


def cli(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [command("hostvitals-collector"), "--config", str(stack.root / "collector.json"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def data_options(stack: Stack) -> list[str]:
    return [f"--data={store.name}={store.data_dir}" for store in stack.stores]


def test_restore_brings_history_and_credentials_back_and_the_spool_fills_the_gap(
    tmp_path: Path,
) -> None:
    shape = StackShape(interval_s=1, agents=1, tiers=(("1m", 60),))
    with Stack.open(shape, "backup") as stack:
        host = stack.agents[0].host
        wait_until(lambda: len(raw_timestamps(stack.raw, host)) >= 5, 60, "first samples")
        # Credentials: the agent's own (a restored collector must still accept it) and a token.
        secret = cli(stack, "agents", "add", "--host", host).splitlines()[-1]
        cli(stack, "tokens", "add", "--name", "grafana", "--role", "viewer")
        agent = stack.agents[0].child
        agent.stop()
        agent.env = {**(agent.env or {}), "HOSTVITALS_AGENT_TOKEN": secret}
        agent.start()
        seen = max(raw_timestamps(stack.raw, host))
        wait_until(lambda: max(raw_timestamps(stack.raw, host)) > seen + 2000, 60, "the token")

        backup_started_ms = time.time() * 1000
        cli(stack, "backup", "--to", str(tmp_path / "bk"), *data_options(stack))
        in_backup_max = max(raw_timestamps(stack.raw, host))  # an upper bound of the copy
        time.sleep(3)  # acknowledged after the backup: only the store has these

        # Destroy: the collector, every store and the state go; the agent keeps sampling.
        assert stack.collector is not None
        stack.collector.stop()
        before = raw_timestamps(stack.raw, host)
        for store in stack.stores:
            assert store.child is not None
            store.child.stop()
            shutil.rmtree(store.data_dir)
        shutil.rmtree(stack.root / "collector-state")
        time.sleep(3)  # sampled while the collector is down: the agent spools these

        restore_started = time.monotonic()
        cli(stack, "restore", "--from", str(tmp_path / "bk"), *data_options(stack))
        for store in stack.stores:
            store.start()
        for store in stack.stores:
            store.wait_ready()
        restored = raw_timestamps(stack.raw, host)
        stack.start_collector()  # returns once /api/v1/health answers
        rto_s = time.monotonic() - restore_started

        # History is back: every sample the backup held, and none newer than it took.
        assert restored and restored == [t for t in before if t <= restored[-1]]
        assert restored[-1] <= in_backup_max
        assert restored[-1] >= backup_started_ms - 2 * INTERVAL_MS
        assert "grafana" in cli(stack, "tokens", "list")

        # The agent sends what it spooled while the collector was down, under sequence
        # numbers that continue from before.
        destroyed_ms = before[-1]

        def holes() -> list[int]:
            stamps = raw_timestamps(stack.raw, host)
            if not stamps or stamps[-1] <= destroyed_ms + 3 * INTERVAL_MS:
                return [-1]
            down = [t for t in stamps if t > destroyed_ms]
            return [b - a for a, b in itertools.pairwise(down) if b - a > 1.5 * INTERVAL_MS]

        # Live frames go first; the spool is sent behind them, so wait for the holes to fill.
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not holes(), 60, "the agent's spool", step=0.5)
        assert not holes(), f"samples lost while the collector was down: {holes()}"
        after = raw_timestamps(stack.raw, host)
        assert len(after) == len(set(after)), "duplicated samples"
        down = [t for t in after if t > destroyed_ms]
        lost = sorted(set(before) - set(after))
        rpo_store_s = (before[-1] - restored[-1]) / 1000
        print(
            f"\nRTO {rto_s:.2f}s (restore start to collector serving); store RPO "
            f"{rpo_store_s:.1f}s ({len(lost)} samples acknowledged after the backup lost); "
            f"samples taken while the collector was down lost: 0 of {len(down)}"
        )
