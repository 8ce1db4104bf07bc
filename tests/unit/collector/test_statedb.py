"""The state database: its format is checked, and an admin's command run as root leaves files
the service can write."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from hostvitals.collector import __main__ as cli
from hostvitals.collector import statedb


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as another user")
def test_files_made_by_root_belong_to_the_directory_owner(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 4242, 4243)  # the service's user, as the package makes it
    conn = statedb.connect(state)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    owners = {p.name: (p.stat().st_uid, p.stat().st_gid) for p in state.iterdir()}
    conn.close()
    assert statedb.FILE_NAME in owners
    assert set(owners.values()) == {(4242, 4243)}, owners


def test_a_database_of_a_newer_format_stops_the_collector_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    statedb.connect(tmp_path).close()  # made by this version: format 1
    conn = sqlite3.connect(tmp_path / statedb.FILE_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == statedb.FORMAT
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with pytest.raises(statedb.StateFormatError, match="newer collector"):
        statedb.connect(tmp_path)
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    config = tmp_path / "collector.yaml"
    config.write_text(f"state:\n  dir: {tmp_path}\n")
    assert cli.main(["agents", "list", "--config", str(config)]) == cli.EXIT_CONFIG
    assert "state format 2; this one reads up to 1" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own files as another user")
def test_an_admin_command_run_as_root_leaves_every_file_to_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 4242, 4243)
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    config = tmp_path / "collector.yaml"
    config.write_text(f"state:\n  dir: {state}\n")
    assert cli.main(["enrollment", "create", "--name", "x", "--config", str(config)]) == 0
    made = list(state.rglob("*"))
    assert any("audit" in str(p) for p in made), made  # the audit log, not only the database
    assert {(p.lstat().st_uid, p.lstat().st_gid) for p in made} == {(4242, 4243)}
