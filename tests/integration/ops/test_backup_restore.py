"""Backup of running tiers and a state database being written, then restore into fresh ones."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests

from hostvitals.collector import statedb
from hostvitals.collector.__main__ import main
from hostvitals.collector.backup.state import copy_sqlite
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

SERIES = 20
POINTS = 60


def write_history(vm: VictoriaMetrics, metric: str, end_ms: int) -> None:
    lines = [
        {
            "metric": {"__name__": metric, "host": f"h{i}"},
            "values": [float(i * POINTS + p) for p in range(POINTS)],
            "timestamps": [end_ms - (POINTS - p) * 1000 for p in range(POINTS)],
        }
        for i in range(SERIES)
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    requests.post(f"{vm.url}/api/v1/import", data=body, timeout=30).raise_for_status()
    vm.flush()


def exported(vm: VictoriaMetrics, metric: str) -> list[dict[str, object]]:
    response = requests.post(f"{vm.url}/api/v1/export", data={"match[]": metric}, timeout=30)
    response.raise_for_status()
    rows = [orjson.loads(line) for line in response.content.splitlines() if line]
    return sorted(rows, key=lambda row: str(row["metric"]))


@pytest.fixture
def tiers(tmp_path: Path) -> Iterator[dict[str, VictoriaMetrics]]:
    vms = {name: VictoriaMetrics(data_dir=tmp_path / name / "data") for name in ("raw", "1m")}
    for vm in vms.values():
        vm.start()
    yield vms
    for vm in vms.values():
        vm.stop()


def write_config(path: Path, vms: dict[str, VictoriaMetrics], state_dir: Path) -> Path:
    doc = {
        "victoriametrics": {"url": vms["raw"].url},
        "tiers": {
            "rollups": [
                {"name": "1m", "url": vms["1m"].url, "resolution_s": 60, "retention_days": 30}
            ]
        },
        "state": {"dir": str(state_dir)},
    }
    path.write_text(json.dumps(doc))
    return path


def test_backup_of_a_running_stack_restores_history_and_state(
    tmp_path: Path, tiers: dict[str, VictoriaMetrics], capsys: pytest.CaptureFixture[str]
) -> None:
    now_ms = int(time.time() * 1000)
    write_history(tiers["raw"], "hv_cpu", now_ms)
    write_history(tiers["1m"], "hv_cpu_1m", now_ms)
    before = {"raw": exported(tiers["raw"], "hv_cpu"), "1m": exported(tiers["1m"], "hv_cpu_1m")}
    assert len(before["raw"]) == SERIES

    state_dir = tmp_path / "state"
    conn = statedb.connect(state_dir)
    conn.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY)")
    (state_dir / "alerts.json").write_text('{"firing": ["HostDown"]}')
    (state_dir / "audit").mkdir()
    (state_dir / "audit" / "000001.log").write_text("record\n")
    # A writer keeps committing while the backup runs: the copy must be one consistent image.
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("INSERT INTO probe (n) VALUES (?)", (n,))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    config = write_config(tmp_path / "config.yaml", tiers, state_dir)
    data = [f"--data=raw={tiers['raw'].data_dir}", f"--data=1m={tiers['1m'].data_dir}"]
    try:
        assert main(["--config", str(config), "backup", "--to", str(tmp_path / "bk"), *data]) == 0
    finally:
        stop.set()
        writer.join()
        conn.close()
    manifest = json.loads(capsys.readouterr().out)
    assert [tier["name"] for tier in manifest["tiers"]] == ["raw", "1m"]
    assert manifest["state_format"] == statedb.FORMAT
    assert "collector.sqlite3" in manifest["state_files"]
    copy = sqlite3.connect(tmp_path / "bk" / "state" / "collector.sqlite3")
    count, top = copy.execute("SELECT count(*), max(n) FROM probe").fetchone()
    copy.close()
    assert count == top and count > 0  # no gap: a transaction-consistent image

    # Destroy the stack: tiers and state gone.
    for vm in tiers.values():
        vm.stop()
        shutil.rmtree(vm.data_dir)
    shutil.rmtree(state_dir)

    started = time.monotonic()
    assert main(["--config", str(config), "restore", "--from", str(tmp_path / "bk"), *data]) == 0
    for vm in tiers.values():
        vm.start()
    rto = time.monotonic() - started
    assert exported(tiers["raw"], "hv_cpu") == before["raw"]
    assert exported(tiers["1m"], "hv_cpu_1m") == before["1m"]
    assert (state_dir / "alerts.json").read_text() == '{"firing": ["HostDown"]}'
    assert (state_dir / "audit" / "000001.log").read_text() == "record\n"
    restored = statedb.connect(state_dir)
    assert restored.execute("SELECT count(*) FROM probe").fetchone()[0] == count
    restored.close()
    print(f"RTO of two tiers and the state: {rto:.2f}s")


def test_restore_refuses_a_directory_without_a_manifest(
    tmp_path: Path, tiers: dict[str, VictoriaMetrics], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.yaml", tiers, tmp_path / "state")
    (tmp_path / "bk").mkdir()
    data = [f"--data=raw={tiers['raw'].data_dir}", f"--data=1m={tiers['1m'].data_dir}"]
    assert main(["--config", str(config), "restore", "--from", str(tmp_path / "bk"), *data]) == 1
    assert "no manifest.json" in capsys.readouterr().err


def test_backup_needs_every_tiers_data_directory(
    tmp_path: Path, tiers: dict[str, VictoriaMetrics], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.yaml", tiers, tmp_path / "state")
    argv = ["--config", str(config), "backup", "--to", str(tmp_path / "bk")]
    assert main([*argv, f"--data=raw={tiers['raw'].data_dir}"]) == 1
    assert "missing ['1m']" in capsys.readouterr().err


def test_copy_sqlite_reads_committed_rows_from_the_wal(tmp_path: Path) -> None:
    conn = statedb.connect(tmp_path / "s")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    copy_sqlite(tmp_path / "s" / statedb.FILE_NAME, tmp_path / "copy.sqlite3")
    conn.close()
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("SELECT x FROM t").fetchall() == [(1,)]
    copy.close()
