"""Atomic file replacement: old or new contents, never a mix, and the rename made durable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hostvitals.shared.atomicfile import remove_leftovers, replace_file


class Syncs:
    """Records what os.fsync was called on: "file" or "directory"."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    def __call__(self, fd: int, /) -> None:
        self.kinds.append("directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Syncs:
    recorder = Syncs()
    monkeypatch.setattr(os, "fsync", recorder)
    return recorder


def test_replaces_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    replace_file(path, b"one\n")
    replace_file(path, b"two\n")
    assert path.read_bytes() == b"two\n"
    assert os.listdir(tmp_path) == ["f"]


def test_a_durable_replace_fsyncs_the_file_then_the_directory(tmp_path: Path, syncs: Syncs) -> None:
    replace_file(tmp_path / "f", b"x")
    assert syncs.kinds == ["file", "directory"]


def test_without_durable_nothing_is_fsynced(tmp_path: Path, syncs: Syncs) -> None:
    replace_file(tmp_path / "f", b"x", durable=False)
    assert (tmp_path / "f").read_bytes() == b"x"
    assert syncs.kinds == []


@pytest.mark.parametrize("mode", [0o600, 0o644])
def test_the_file_gets_the_mode_asked_for(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "f"
    replace_file(path, b"x", mode=mode)
    assert path.stat().st_mode & 0o777 == mode


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    replace_file(path, b"old")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        replace_file(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_remove_leftovers_deletes_only_the_temporaries_of_that_file(tmp_path: Path) -> None:
    for name in ("f", "f.k3j_2x.tmp", "f.abc.tmp", "g.abc.tmp", "f.tmp.keep", "ff.abc.tmp"):
        (tmp_path / name).write_bytes(b"")
    remove_leftovers(tmp_path / "f")
    assert sorted(os.listdir(tmp_path)) == ["f", "f.tmp.keep", "ff.abc.tmp", "g.abc.tmp"]
