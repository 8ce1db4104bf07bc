"""Ingest rate limits meet real agents: an agent catching up after an outage at its paced
rate is never refused, and one that sends its backlog unpaced is answered 429, honours
Retry-After, and still delivers everything.

The collector's limit is scaled down with the agent's catch-up rate (the shipped defaults are
30 frames/s per agent against a catch-up rate of 20 frames/s), so a backlog of a short
outage is enough to reach it.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.agent_support import counter, grid, latest, legitimate_gaps, timestamps
from tests.e2e.conftest import StartAgent, StartCollector, console_script
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.e2e

OUTAGE_S = 50.0  # a frame a second: about 50 frames of backlog
LIMIT = {  # frames per second per agent credential, and the burst above it
    "HOSTVITALS__RATE_LIMITS__INGEST_PER_CREDENTIAL_PER_S": "3",
    "HOSTVITALS__RATE_LIMITS__INGEST_PER_CREDENTIAL_BURST": "10",
}
AGENT = {
    # A frame a second, through the outage too (outage frames are at least this long).
    "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
    "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": "1",
    "HOSTVITALS_AGENT_CATCHUP_JITTER": "1",
    "HOSTVITALS_AGENT_RETRY_BACKOFF_MAX": "4",
}


def secret(state_dir: Path, *command: str) -> str:
    """The secret `hostvitals-collector tokens|agents add ...` prints."""
    env = {**os.environ, "HOSTVITALS__STATE__DIR": str(state_dir), "HOSTVITALS_CONFIG": ""}
    done = subprocess.run(
        [console_script("hostvitals-collector"), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def rate_limited(url: str, viewer: str) -> float:
    headers = {"Authorization": f"Bearer {viewer}"}
    text = requests.get(f"{url}/metrics", headers=headers, timeout=10).text
    for line in text.splitlines():
        if line.startswith(
            'hostvitals_collector_rate_limited_total{by="credential",kind="ingest"}'
        ):
            return float(line.split()[-1])
    raise AssertionError("no ingest rate limit counter")


# Paced: 1 backlog frame/s and a fresh one a second, under 3/s. Unpaced: about 50 frames back
# to back, which would have to take the agent over 13 s (under 4 requests/s) to stay under.
@pytest.mark.parametrize(("catchup_rate", "refused"), [("1", False), ("1000", True)])
def test_a_catch_up_within_the_limit_is_never_refused(
    start_collector: StartCollector,
    start_agent: StartAgent,
    victoria_metrics: VictoriaMetrics,
    tmp_path: Path,
    host_name: str,
    catchup_rate: str,
    refused: bool,
) -> None:
    state = tmp_path / "collector-state"
    agent_secret = secret(state, "agents", "add", "--host", host_name)
    # Once a credential exists every route needs one: a viewer reads /metrics.
    viewer = secret(state, "tokens", "add", "--name", "test", "--role", "viewer")
    env = {"HOSTVITALS__STATE__DIR": str(state), **LIMIT}
    collector = start_collector(env=env)
    agent_env = {
        **AGENT,
        "HOSTVITALS_AGENT_CATCHUP_RATE": catchup_rate,
        "HOSTVITALS_AGENT_TOKEN": agent_secret,
    }
    agent = start_agent(collector.url, host_name, env=agent_env)
    wait_until(lambda: bool(timestamps(victoria_metrics, host_name)), 30, "the agent to report")

    collector.process.stop()
    time.sleep(OUTAGE_S)
    collector = start_collector(port=collector.port, env=env)
    back_ms = int(time.time() * 1000)

    def caught_up() -> bool:
        """Every tick through the outage is stored, and the agent's spool is empty again (the
        spool gauge alone would show its last value from before the outage)."""
        assert agent.running(), agent.log_tail()
        got = set(timestamps(victoria_metrics, host_name))
        missing = grid(min(got), back_ms) - got
        if len(missing) > legitimate_gaps(victoria_metrics, host_name) or max(got) < back_ms:
            return False
        return latest(victoria_metrics, host_name, "hostvitals_agent_spool_frames") == 0

    wait_until(caught_up, 180, "the agent to send its backlog", step=1.0)
    for reason in ("spool_full", "expired", "rejected"):
        dropped = counter(
            victoria_metrics, host_name, "hostvitals_agent_dropped_samples_total", reason=reason
        )
        assert dropped == 0, reason
    limited = rate_limited(collector.url, viewer)
    assert (limited > 0) is refused, limited
