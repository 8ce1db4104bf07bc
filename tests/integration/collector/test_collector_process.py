"""The installed ``hostvitals-collector`` command: serves, ingests, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from hostvitals.shared.codec import encode_frame
from tests.support.collector_process import collector_command
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.integration


def test_command_serves_ingest_and_stops_on_sigterm(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    port = free_port()
    env = {
        "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
        "HOSTVITALS__AUTH__TOKENS": "process-token",
        "HOSTVITALS__STATE__DIR": str(tmp_path / "state"),
        "HOSTVITALS_CONFIG": "",
    }
    # The host list needs a viewer: the legacy ingest token is an agent's, not a viewer's.
    viewer = subprocess.run(
        [collector_command(), "tokens", "add", "--name", "process-test", "--role", "viewer"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    proc = ManagedProcess(
        [collector_command(), "serve", "--port", str(port)], tmp_path / "collector.log", env=env
    )
    proc.start()
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(http_ok(f"{base}/api/v1/health"), 30, "collector health")
        except TimeoutError as exc:
            raise AssertionError(proc.log_tail()) from exc
        host = f"int-process-{uuid.uuid4().hex[:10]}"
        body = encode_frame(catalogue_frame(host, ticks_ending_now(2)))
        headers = {"Content-Type": "application/x-msgpack"}
        refused = requests.post(f"{base}/api/v1/ingest", data=body, headers=headers, timeout=10)
        assert refused.status_code == 401
        headers["Authorization"] = "Bearer process-token"
        accepted = requests.post(f"{base}/api/v1/ingest", data=body, headers=headers, timeout=10)
        assert accepted.status_code == 204, accepted.text
        assert requests.get(f"{base}/api/v1/hosts", timeout=10).status_code == 401
        as_agent = {"Authorization": "Bearer process-token"}
        assert requests.get(f"{base}/api/v1/hosts", headers=as_agent, timeout=10).status_code == 403
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        hosts = requests.get(f"{base}/api/v1/hosts", headers=as_viewer, timeout=10).json()["data"]
        assert [h["host"] for h in hosts] == [host]

        proc.signal(signal.SIGTERM)
        assert proc.proc is not None
        # A graceful stop; uvicorn then ends by the signal it received, as a daemon should.
        assert proc.proc.wait(30) in (0, -signal.SIGTERM), proc.log_tail()
        assert "Application shutdown complete" in proc.log_tail()
    finally:
        proc.stop()


def test_config_error_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("limits:\n  max_body_bytes: -1\n")
    proc = ManagedProcess(
        [collector_command(), "--config", str(config)], tmp_path / "bad.log", env={}
    )
    proc.start()
    assert proc.proc is not None
    assert proc.proc.wait(30) == 2
    log = (tmp_path / "bad.log").read_text()
    assert log == (
        "config error: limits.max_body_bytes: Input should be greater than 0 (got -1) "
        f"[in {config}]\n"
    )


def test_listening_beyond_loopback_without_a_credential_exits_2_with_one_line(
    tmp_path: Path,
) -> None:
    proc = ManagedProcess(
        [collector_command(), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        tmp_path / "exposed.log",
        env={"HOSTVITALS_CONFIG": ""},
    )
    proc.start()
    assert proc.proc is not None
    assert proc.proc.wait(30) == 2
    lines = (tmp_path / "exposed.log").read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("refusing to listen on 0.0.0.0 with no credential configured")
    assert "tokens add" in lines[0] and "auth.allow_anonymous: true" in lines[0]
