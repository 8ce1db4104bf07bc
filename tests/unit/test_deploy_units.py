"""The systemd units under deploy/ are valid for systemd-analyze, warnings included."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "systemd").glob("*.service"))


def test_every_component_has_a_unit() -> None:
    names = {unit.name for unit in UNITS}
    assert {"hostvitals-agent.service", "hostvitals-collector.service"} <= names
    assert any(name.startswith("hostvitals-vm@") for name in names)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies_cleanly(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: `make deps` installs systemd"
    # The units name the installed paths; point ExecStart at a binary that exists here.
    text = re.sub(
        r"^(ExecStart=)(\S+)", rf"\g<1>{sys.executable}", unit.read_text(), flags=re.MULTILINE
    )
    copy = tmp_path / unit.name
    copy.write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert not [line for line in output.splitlines() if unit.name in line], output


def _environment(unit: Path) -> dict[str, str]:
    lines = [line for line in unit.read_text().splitlines() if line.startswith("Environment=")]
    return dict(line.removeprefix("Environment=").split("=", 1) for line in lines)


def test_the_collector_unit_ships_with_auth_on_and_tls_wired(tmp_path: Path) -> None:
    from hostvitals.collector.config.loader import load_settings

    unit = next(u for u in UNITS if u.name == "hostvitals-collector.service")
    env = _environment(unit)
    assert not any("TOKEN" in key and "FILE" not in key for key in env), "no inline secret"
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    tls = load_settings(empty, env, {}).tls
    assert tls.enabled and tls.client_ca_file is not None and tls.require_client_cert_on_ingest
    assert "allow_anonymous" not in unit.read_text().lower()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in unit.read_text()


def test_the_agent_unit_wires_its_tls_files() -> None:
    unit = next(u for u in UNITS if u.name == "hostvitals-agent.service")
    env = _environment(unit)
    for key in ("CA_FILE", "CLIENT_CERT", "CLIENT_KEY"):
        assert env[f"HOSTVITALS_AGENT_{key}"].startswith("/etc/hostvitals/tls/")
    assert "HOSTVITALS_AGENT_TOKEN" not in env, "a token comes from token_file, never inline"


def test_the_backup_timer_and_its_service_verify_together(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: `make deps` installs systemd"
    units = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
    for name in ("hostvitals-backup.timer", "hostvitals-backup.service"):
        (tmp_path / name).write_text((units / name).read_text())
    timer = (units / "hostvitals-backup.timer").read_text()
    assert "Unit=hostvitals-backup.service" in timer and "Persistent=true" in timer
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "hostvitals-backup.timer")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert "hostvitals-backup" not in output, output
    service = (units / "hostvitals-backup.service").read_text()
    assert "backup --to" in service
    for tier in ("raw", "1m", "5m", "1h"):  # every tier of the shipped configuration
        assert f"--data {tier}=/var/lib/hostvitals-vm/{tier}" in service
