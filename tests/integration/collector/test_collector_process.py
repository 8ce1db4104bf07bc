"""The installed ``hostvitals-collector`` command: serves, ingests, stops cleanly on SIGTERM."""

from __future__ import annotations

import shutil
import signal
import sys
import uuid
from pathlib import Path

import pytest
import requests

from hostvitals.shared.codec import encode_frame
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.integration


def collector_command() -> str:
    path = Path(sys.executable).parent / "hostvitals-collector"
    found = str(path) if path.exists() else shutil.which("hostvitals-collector")
    if found is None:
        raise RuntimeError("hostvitals-collector is not installed; run `make venv`")
    return found


def test_command_serves_ingest_and_stops_on_sigterm(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    port = free_port()
    proc = ManagedProcess(
        [collector_command(), "serve", "--port", str(port)],
        tmp_path / "collector.log",
        env={
            "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
            "HOSTVITALS__AUTH__TOKENS": "process-token",
            "HOSTVITALS_CONFIG": "",
        },
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
        hosts = requests.get(f"{base}/api/v1/hosts", timeout=10).json()["data"]
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
