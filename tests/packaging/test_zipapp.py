"""The single-file agent (packaging/zipapp.sh): one file that runs the agent on this
machine's python3, unpacking itself under SHIV_ROOT."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.debs import REPO


def test_the_zipapp_runs_the_agent(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO / "packaging" / "zipapp.sh"), str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "ZIPAPP_WORK": str(tmp_path / "work")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    pyz = Path(result.stdout.split()[-1])
    assert pyz.name == "hostvitals-agent.pyz" and pyz.stat().st_size < 10 * 2**20
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTVITALS", "PYTHON"))}
    env["SHIV_ROOT"] = str(tmp_path / "unpacked")
    once = subprocess.run(
        ["/usr/bin/python3", str(pyz), "--once", "--state-dir", str(tmp_path / "state")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    assert json.loads(once.stdout)["series"]
    assert list((tmp_path / "unpacked").iterdir())  # where it unpacked itself
    enroll = subprocess.run(
        [str(pyz), "enroll", "--help"], capture_output=True, text=True, timeout=60, env=env
    )
    assert enroll.returncode == 0 and "--ca-file" in enroll.stdout
