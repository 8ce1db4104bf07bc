"""The real ``hostvitals-collector`` process, at debug level with the access log on, while
tokens, passwords and a webhook's key flow through it: its output shows none of them, and
the ``tokens`` command it was set up with left an audit record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from hostvitals.collector.access.audit import AuditLog
from tests.support.collector_process import collector_command
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.integration

LEGACY = "legacy-process-token-4c1d"
PASSWORD = "smtp-pa55-w0rd-9f2e"
HOOK_KEY = "T0A1B2C3D4E5F6secret"


def test_the_process_output_shows_no_secret(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    port, dead = free_port(), free_port()
    config = tmp_path / "collector.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"port": port, "log_level": "debug", "access_log": True},
                "victoriametrics": {"url": victoria_metrics.url},
                "state": {"dir": str(tmp_path / "state")},
                "auth": {"tokens": [LEGACY]},
                "alerts": {
                    "notifiers": [
                        {"name": "hook", "type": "webhook",
                         "url": f"http://127.0.0.1:{dead}/hooks/{HOOK_KEY}"},
                        {"name": "mail", "type": "email", "smtp_host": "127.0.0.1",
                         "smtp_port": dead, "smtp_username": "alerts",
                         "smtp_password": PASSWORD, "email_from": "hv@example.org",
                         "email_to": ["oncall@example.org"]},
                    ]
                },
            }
        )
    )  # fmt: skip
    env = {"HOSTVITALS_CONFIG": str(config)}
    admin = subprocess.run(
        [collector_command(), "tokens", "add", "--name", "ops", "--role", "admin"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    proc = ManagedProcess([collector_command(), "serve"], tmp_path / "collector.log", env=env)
    proc.start()
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(http_ok(f"{base}/api/v1/health"), 30, "collector health")
        except TimeoutError as exc:
            raise AssertionError(proc.log_tail()) from exc
        as_admin = {"Authorization": f"Bearer {admin}"}
        requests.get(f"{base}/api/v1/hosts", headers=as_admin, timeout=10)
        requests.get(f"{base}/api/v1/hosts", params={"token": admin}, timeout=10)
        requests.get(f"{base}/api/v1/hosts", headers={"Authorization": f"Bearer {LEGACY}"},
                     timeout=10)  # fmt: skip
        requests.get(f"{base}/api/v1/hosts", auth=("grafana", admin + "x"), timeout=10)
        made = requests.post(f"{base}/api/v1/agents", json={"host": "web-1"}, headers=as_admin,
                             timeout=10)  # fmt: skip
        agent = made.json()["data"]["secret"]
        shown = requests.get(f"{base}/api/v1/notifiers", headers=as_admin, timeout=10)
        metrics = requests.get(f"{base}/metrics", headers=as_admin, timeout=10)
        audit = requests.get(f"{base}/api/v1/audit", headers=as_admin, timeout=10).json()["data"]
    finally:
        proc.stop()
    output = (tmp_path / "collector.log").read_text()
    assert "GET /api/v1/hosts?token=***" in output  # the access log ran, masked
    for secret in (LEGACY, PASSWORD, HOOK_KEY, admin, agent):
        assert secret not in output, secret
        assert secret not in shown.text and secret not in metrics.text
    assert audit["chain"]["ok"] is True
    actions = [(r["action"], r["subject"].split(":")[0]) for r in audit["records"]]
    # (The legacy agent token asking for the host list is a refusal worth a record.)
    assert actions == [("agent.add", "token"), ("access.denied", "legacy"), ("token.add", "cli")]
    assert AuditLog(tmp_path / "state" / "audit").verify().ok
