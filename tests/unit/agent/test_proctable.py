"""The processes sampler's table: /proc/<pid>/stat read once per process, answering like
psutil.Process."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from hostvitals.agent.samplers.proctable import (
    CLOCK_TICKS,
    PAGE_SIZE,
    ProcTable,
    StatFields,
    parse_stat,
)
from tests.support.clock import ManualClock


def write_stat(
    procfs: Path,
    pid: int,
    *,
    ticks: int,
    start: int,
    rss: int,
    state: str = "S",
    comm: str = "worker",
) -> None:
    fields = [
        state,
        "1",
        "1",
        "1",
        "0",
        "-1",
        "0",
        "0",
        "0",
        "0",
        "0",
        str(ticks - ticks // 3),
        str(ticks // 3),
        "0",
        "0",
        "20",
        "0",
        "1",
        "0",
        str(start),
        "1000",
        str(rss),
    ] + ["0"] * 30
    (procfs / str(pid)).mkdir(exist_ok=True)
    (procfs / str(pid) / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")


@pytest.fixture
def procfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path))
    (tmp_path / "self").mkdir()  # not a pid: ignored
    return tmp_path


def test_cpu_since_the_previous_scan_and_resident_memory(procfs: Path) -> None:
    clock = ManualClock()
    table = ProcTable(clock=clock)
    write_stat(procfs, 7, ticks=100, start=5, rss=10, comm="a b) (c")
    (first,) = table()
    assert (first.pid, first.cpu_percent(None), first.memory_info().rss) == (7, 0.0, 10 * PAGE_SIZE)
    clock.now += 2.0
    write_stat(procfs, 7, ticks=100 + CLOCK_TICKS, start=5, rss=12, comm="a b) (c")
    (second,) = table()
    assert second is first  # the same object for the same process, as psutil's process_iter
    assert second.cpu_percent(None) == 50.0  # one second of CPU in two
    assert second.memory_info().rss == 12 * PAGE_SIZE


def test_a_reused_pid_is_a_new_process(procfs: Path) -> None:
    clock = ManualClock()
    table = ProcTable(clock=clock)
    write_stat(procfs, 7, ticks=100, start=5, rss=10)
    (old,) = table()
    clock.now += 1.0
    write_stat(procfs, 7, ticks=300, start=6, rss=10)
    (new,) = table()
    assert new is not old
    assert new.cpu_percent(None) == 0.0


def test_zombies_vanished_and_unreadable_processes_are_left_out(procfs: Path) -> None:
    write_stat(procfs, 3, ticks=1, start=1, rss=1)
    write_stat(procfs, 4, ticks=1, start=1, rss=0, state="Z")
    (procfs / "5").mkdir()  # vanished: its directory is there, its stat is not
    write_stat(procfs, 6, ticks=1, start=1, rss=1)
    (procfs / "6" / "stat").chmod(0)
    readable = os.access(procfs / "6" / "stat", os.R_OK)  # root reads it anyway
    assert [p.pid for p in ProcTable()()] == ([3, 6] if readable else [3])


def test_names_and_users_come_from_psutil_for_this_process() -> None:
    me = psutil.Process()
    (mine,) = [p for p in ProcTable()() if p.pid == os.getpid()]
    assert (mine.name(), mine.username()) == (me.name(), me.username())
    assert abs(mine.memory_info().rss - me.memory_info().rss) < 16 * 2**20


def test_parse_stat_counts_fields_from_the_last_parenthesis() -> None:
    line = (
        b"7 (a) (b c) R 1 1 1 0 -1 4194304 0 0 0 0 30 12 0 0 20 0 1 0 99 1000 25"
        b" 18446744073709551615 1 1\n"
    )
    assert parse_stat(line) == StatFields(b"a) (b c", b"R", 42, 99, 25)
    assert parse_stat(b"7 (cut) S 1 1 1 0\n") is None
    assert parse_stat(b"") is None


def test_stat_files_stay_open_between_scans_and_close_when_the_process_goes(
    procfs: Path,
) -> None:
    table = ProcTable(max_open=1)
    write_stat(procfs, 3, ticks=1, start=1, rss=1)
    write_stat(procfs, 4, ticks=1, start=1, rss=2)
    first = table()
    assert table.open_files == 1  # one kept open, the other opened on each scan
    write_stat(procfs, 3, ticks=5, start=1, rss=7)  # the same file, rewritten in place
    write_stat(procfs, 4, ticks=5, start=1, rss=8)
    second = table()
    assert [p.memory_info().rss for p in second] == [7 * PAGE_SIZE, 8 * PAGE_SIZE]
    assert [id(p) for p in second] == [id(p) for p in first]
    (procfs / "3" / "stat").unlink()
    (procfs / "3").rmdir()
    assert [p.pid for p in table()] == [4]
    assert table.open_files == 0  # 3's file closed at the end of the scan
    assert [p.pid for p in table()] == [4]
    assert table.open_files == 1  # 4's file opened and kept
    table.close()
    assert table.open_files == 0


def test_no_file_kept_open_when_none_may_be(procfs: Path) -> None:
    table = ProcTable(max_open=0)
    write_stat(procfs, 3, ticks=1, start=1, rss=1)
    assert [p.pid for p in table()] == [3]
    assert [p.pid for p in table()] == [3]
    assert table.open_files == 0


def test_an_exited_process_is_left_out_and_its_file_closed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        table = ProcTable(max_open=4096)
        (seen,) = [p for p in table() if p.pid == child.pid]
        assert seen.fd >= 0
    finally:
        child.kill()
        child.wait()
    assert child.pid not in [p.pid for p in table()]
    assert seen.fd == -1
    table.close()


def test_a_short_name_comes_from_stat_without_psutil(procfs: Path) -> None:
    write_stat(procfs, 999_999_999, ticks=1, start=1, rss=1, comm="nginx: w (x)")
    (proc,) = ProcTable()()
    assert proc.name() == "nginx: w (x)"  # no such pid: psutil would raise


def test_a_name_the_kernel_may_have_cut_comes_from_psutil(procfs: Path) -> None:
    write_stat(procfs, 999_999_999, ticks=1, start=1, rss=1, comm="a-fifteen-chars")
    (procfs / "999999999" / "cmdline").write_bytes(b"/usr/bin/a-fifteen-chars-long\0-v\0")
    (proc,) = ProcTable()()
    assert proc.name() == "a-fifteen-chars-long"


def test_user_names_are_looked_up_once_per_uid_and_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = pwd.getpwuid
    expected = psutil.Process().username()

    def counting(uid: int) -> pwd.struct_passwd:
        calls.append(uid)
        return real(uid)

    monkeypatch.setattr(pwd, "getpwuid", counting)
    table = ProcTable()
    me = os.getpid()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for _ in range(2):
            mine = [p for p in table() if p.pid in (me, child.pid)]
            assert [p.username() for p in mine] == [expected] * 2
        assert calls == [os.getuid()] * 2  # once in each of the two scans
    finally:
        child.kill()
        child.wait()
        table.close()
