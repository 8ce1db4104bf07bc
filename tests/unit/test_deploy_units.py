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
