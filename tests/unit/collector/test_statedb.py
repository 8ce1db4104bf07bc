"""The state database: an admin's command run as root leaves files the service can write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
