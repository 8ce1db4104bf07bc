"""The chaos experiments, short: every experiment of ``hostvitals-chaos`` runs against its own
private stack with a 3 s fault, and its hypothesis holds (``make chaos`` runs them for their
full durations). Also: an interrupted run leaves no process and no file behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from hostvitals.chaos.experiments import EXPERIMENTS
from tests.e2e.conftest import console_script

pytestmark = pytest.mark.e2e

OUTAGES = ("vm-hung", "vm-killed", "collector-hung", "collector-killed", "network-partition")


def strays(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline:
            found.append(cmdline)
    return found


@dataclass(frozen=True)
class Run:
    results: dict[str, dict[str, Any]]
    order: list[str]
    returncode: int
    stdout: str
    tmp: Path


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``hostvitals-chaos --profile short``, once for the module (a few minutes)."""
    tmp = tmp_path_factory.mktemp("chaos")
    out = tmp / "report"
    done = subprocess.run(
        [console_script("hostvitals-chaos"), "--profile", "short", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=840,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert (out / "report.md").exists(), done.stdout + done.stderr
    report: list[dict[str, Any]] = json.loads((out / "report.json").read_text())
    order = [r["experiment"] for r in report]
    return Run({r["experiment"]: r for r in report}, order, done.returncode, done.stdout, tmp)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", [e.name for e in EXPERIMENTS])
def test_the_hypothesis_holds(short_run: Run, name: str) -> None:
    r = short_run.results[name]
    assert r["passed"], r["failures"]
    assert r["lost_samples"] == 0 and r["duplicated_samples"] == 0
    assert r["recovery_s"] is not None and r["recovery_s"] < 30
    assert not [c for c in r["answers"] if c.startswith("5") and c != "503"]
    assert r["answers_503_without_retry_after"] == 0
    # every tier was measured: its expected samples are there, exactly once
    assert set(r["tiers"]) == {"raw", "2s", "3s", "4s"}
    for tier, count in r["tiers"].items():
        assert count["expected"] > 0, tier
        assert count["lost"] == count["duplicated"] == 0, tier
    assert r["expected_samples"] == sum(c["expected"] for c in r["tiers"].values())


@pytest.mark.timeout(900)
def test_the_report_covers_every_experiment_and_the_faults_took_effect(short_run: Run) -> None:
    assert short_run.order == [e.name for e in EXPERIMENTS]
    for name in short_run.order:
        assert name in short_run.stdout  # the terminal table
    results = short_run.results
    # through an outage nothing new reached the raw tier for about as long as the fault
    for name in OUTAGES:
        assert results[name]["max_staleness_s"] >= 2.0, (name, results[name])
    # the exit code says whether every hypothesis held
    assert short_run.returncode == (0 if all(r["passed"] for r in results.values()) else 1)
    assert strays(str(short_run.tmp)) == []
    assert not list(short_run.tmp.glob("hostvitals-chaos-*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_its_stack_and_removes_its_files(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [
            console_script("hostvitals-chaos"),
            "--profile",
            "short",
            "--only",
            "spool-disk-full",
            "--out",
            str(tmp_path / "report"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not any("hostvitals-agent" in c for c in strays(str(tmp_path))):
            assert proc.poll() is None and time.monotonic() < deadline, "no agent started"
            time.sleep(0.2)
        proc.send_signal(sig)
        assert proc.wait(30) != 0
    finally:
        proc.kill()
    assert strays(str(tmp_path)) == []
    assert not list(tmp_path.glob("hostvitals-chaos-*"))
    with open("/proc/mounts") as mounts:
        assert str(tmp_path) not in mounts.read()
