"""``backup`` and ``restore`` copy single-node tiers only: a tier with the cluster layout makes
both refuse, saying why and what to use instead, before anything is touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hostvitals.collector.__main__ import main

CLUSTER = {
    "layout": "cluster",
    "insert_url": "http://vminsert.test:8480",
    "select_url": "http://vmselect.test:8481",
}


def config(tmp_path: Path, raw: dict[str, Any], rollups: list[dict[str, Any]]) -> str:
    clustered = any("layout" in where for where in (raw, *rollups))
    doc = {
        "victoriametrics": {**raw, "account_id": 3} if clustered else raw,
        "tiers": {"rollups": rollups},
        "state": {"dir": str(tmp_path / "state")},
    }
    path = tmp_path / "collector.yaml"
    path.write_text(json.dumps(doc))
    return str(path)


def tier(name: str, res: int, **where: Any) -> dict[str, Any]:
    return {"name": name, "resolution_s": res, "retention_days": 30, **where}


@pytest.mark.parametrize(
    ("raw", "rollups", "says"),
    [
        ({**CLUSTER, "url": None}, [], "tier raw has layout 'cluster'"),
        (
            {"url": "http://vm.test:8428"},
            [tier("1m", 60, url="http://vm1m.test:8429"), tier("5m", 300, **CLUSTER)],
            "tier 5m has layout 'cluster'",
        ),
        (
            {**CLUSTER, "url": None},
            [tier("1m", 60, **CLUSTER)],
            "tiers raw, 1m have layout 'cluster'",
        ),
    ],
)
@pytest.mark.parametrize("command", ["backup", "restore"])
def test_a_cluster_tier_is_refused_with_what_to_do_instead(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    raw: dict[str, Any],
    rollups: list[dict[str, Any]],
    says: str,
    command: str,
) -> None:
    target = tmp_path / "bk"
    where = ["--to", str(target)] if command == "backup" else ["--from", str(target)]
    argv = ["--config", config(tmp_path, raw, rollups), command, *where, "--data=raw=/x"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{command} failed: {says}" in err
    assert "backup and restore copy single-node VictoriaMetrics only" in err
    assert "vmbackup on each vmstorage node" in err
    assert not target.exists()  # refused before anything was made or read


def test_without_data_directories_a_single_node_backup_names_the_missing_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, {"url": "http://vm.test:8428"}, [tier("1m", 60, url="http://t:1")])
    assert main(["--config", path, "backup", "--to", str(tmp_path / "bk")]) == 1
    assert "missing ['raw', '1m']" in capsys.readouterr().err
