"""The alert state file: saved durably (the rename too), read back, set aside when damaged."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest

from hostvitals.collector.alerts.model import Alert
from hostvitals.collector.alerts.store import StateFile, alert_from_json, alert_to_json


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


def firing(value: float) -> Alert:
    labels = {"alertname": "HighCPU", "host": "web-1"}
    return Alert("r", "f", labels, {"summary": "CPU ü"}, "firing", 1.0, value, 2.0, fired_at=3.0)


@pytest.mark.parametrize("value", [97.25, 0.0, -1e-300, math.inf, -math.inf])
def test_an_alert_reads_back_as_it_was_saved(tmp_path: Path, value: float) -> None:
    state = StateFile(tmp_path / "state.json")
    state.save({"alerts": [alert_to_json(firing(value))], "hosts": {"web-1": [5.5, 10.0]}})
    doc = state.load()
    assert alert_from_json(doc["alerts"][0]) == firing(value)
    assert doc["hosts"] == {"web-1": [5.5, 10.0]}


def test_a_value_that_is_not_a_number_stays_one(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state.json")
    state.save({"alerts": [alert_to_json(firing(math.nan))]})
    assert math.isnan(alert_from_json(state.load()["alerts"][0]).value)


def test_the_file_is_json_any_reader_takes(tmp_path: Path) -> None:
    """Strict JSON (no NaN or Infinity literals), keys that are not strings written as the
    standard library writes them."""
    path = tmp_path / "state.json"
    StateFile(path).save({"alerts": [alert_to_json(firing(math.inf))], "counts": {1: 2}})

    def refuse(literal: str) -> None:
        raise ValueError(f"not strict JSON: {literal}")

    doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert doc["alerts"][0]["value"] == "inf"
    assert doc["counts"] == {"1": 2}
