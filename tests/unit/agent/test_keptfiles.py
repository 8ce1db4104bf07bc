"""Small files kept open between reads, on real files and a real cgroup-like removal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostvitals.agent.samplers.keptfiles import CHUNK, KeptFiles


def test_a_kept_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "cpu.stat"
    path.write_text("usage_usec 1\n")
    kept = KeptFiles(max_open=4)
    assert kept.read(str(path)) == "usage_usec 1\n"
    assert kept.open_files == 1
    with path.open("r+") as changed:  # the same file, new contents (as the kernel does)
        changed.write("usage_usec 2\n")
    assert kept.read(str(path)) == "usage_usec 2\n"
    assert kept.open_files == 1
    kept.close()
    assert kept.open_files == 0


def test_at_most_max_open_stay_open_and_the_rest_are_still_read(tmp_path: Path) -> None:
    kept = KeptFiles(max_open=2)
    paths = []
    for i in range(4):
        path = tmp_path / f"f{i}"
        path.write_text(f"{i}\n")
        paths.append(str(path))
    assert [kept.read(p) for p in paths] == ["0\n", "1\n", "2\n", "3\n"]
    assert kept.open_files == 2
    kept.sweep()  # all were read since the last sweep
    assert kept.open_files == 2
    assert kept.read(paths[1]) == "1\n"
    kept.sweep()  # only paths[1] was read since
    assert kept.open_files == 1
    kept.close()


def test_a_file_larger_than_one_read_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_text("x" * (CHUNK + 10))
    kept = KeptFiles(max_open=1)
    assert kept.read(str(path)) == "x" * (CHUNK + 10)
    assert kept.read(str(path)) == "x" * (CHUNK + 10)
    kept.close()


def test_a_missing_file_raises_as_open_does(tmp_path: Path) -> None:
    kept = KeptFiles(max_open=1)
    with pytest.raises(FileNotFoundError):
        kept.read(str(tmp_path / "gone"))
    assert kept.open_files == 0


def test_a_kept_file_that_fails_is_opened_again_by_path(tmp_path: Path) -> None:
    """A removed cgroup's file answers ENODEV: the name is opened afresh (a new cgroup of that
    name, or FileNotFoundError). A directory's fd fails a read alike (EISDIR)."""
    path = tmp_path / "node"
    path.mkdir()
    kept = KeptFiles(max_open=1)
    fd = os.open(path, os.O_RDONLY)
    kept._fds[str(path)] = fd  # a kept fd whose reads fail
    path.rmdir()
    path.write_text("new\n")
    assert kept.read(str(path)) == "new\n"
    kept.close()
