"""The alert state file: saved durably (the rename too), read back, set aside when damaged."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hostvitals.collector.alerts.store import StateFile


def test_save_fsyncs_the_file_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)))
    state = StateFile(tmp_path / "alerts" / "state.json")
    state.save({"alerts": []})
    assert synced == [False, True]  # the file, then the directory holding the rename
    assert state.load() == {"version": 1, "alerts": []}
    assert os.listdir(tmp_path / "alerts") == ["state.json"]


def test_an_unreadable_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    assert StateFile(path).load() == {}
    assert (tmp_path / "state.json.corrupt").read_text() == "{not json"
