"""A full disk (ENOSPC, EDQUOT, EIO) at each write site: the agent's files stay consistent,
nothing accepted is lost or duplicated, every sample not kept is counted as disk_full, and
writing resumes by itself when the fault goes.

The faults are injected by path: a write to a matching file fails with the errno given, the
other files keep working, as on a disk that has room for a 28-byte position record but not
for a frame. A crash is a copy of the directory taken while the files are open (what kill -9
leaves), as the spool's model test does.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostvitals.agent.app import Agent
from hostvitals.agent.config import SamplersConfig, SpoolConfig, load_config
from hostvitals.agent.journal import Journal
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.send_stats import SendStats
from hostvitals.agent.spool import FsyncPolicy, Spool
from hostvitals.agent.spool import position as position_module
from hostvitals.agent.spool.position import read_position
from hostvitals.agent.state import StateError, StateStore
from hostvitals.shared import atomicfile
from tests.unit.agent.test_journal import LOAD


class DiskFault:
    """Makes writes to files whose path ends with one of ``suffixes`` fail with ``code``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.suffixes: tuple[str, ...] = ()
        self.code = errno.ENOSPC
        self.failed = 0
        real_pwrite = os.pwrite
        real_open = os.open
        real_mkstemp = atomicfile.tempfile.mkstemp

        def pwrite(fd: int, data: Any, offset: int) -> int:
            self._check(os.readlink(f"/proc/self/fd/{fd}"))
            return real_pwrite(fd, data, offset)

        def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_CREAT:
                self._check(os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
            self._check(f"{kwargs['dir']}/{kwargs['prefix']}new")  # e.g. position.new
            result: tuple[int, str] = real_mkstemp(*args, **kwargs)
            return result

        monkeypatch.setattr(os, "pwrite", pwrite)
        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(atomicfile.tempfile, "mkstemp", mkstemp)

    def fail(self, *suffixes: str, code: int = errno.ENOSPC) -> None:
        self.suffixes, self.code = suffixes, code

    def clear(self) -> None:
        self.suffixes = ()

    def _check(self, path: str) -> None:
        if self.suffixes and path.endswith(self.suffixes):
            self.failed += 1
            raise OSError(self.code, os.strerror(self.code), path)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiskFault]:
    yield DiskFault(monkeypatch)


def crash_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def payloads(spool: Spool) -> list[bytes]:
    return [record.payload for record in spool.peek(1000)]


def dropped(outbox: Outbox) -> dict[str, int]:
    rows = SendStats().rows(outbox.counts())
    return {
        dict(labels)["reason"]: int(value)
        for name, labels, value in rows
        if name == "hostvitals_agent_dropped_samples_total"
    }


# -- spool append ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_frames_the_full_disk_refuses_are_counted_and_spooling_resumes(
    tmp_path: Path, disk: DiskFault, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    outbox = Outbox(tmp_path / "spool", SpoolConfig())
    assert outbox.append_now(b"before", 3) is not None
    disk.fail(".seg", code=code)
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.outbox"):
        assert [outbox.append_now(b"lost", 5) for _ in range(4)] == [None] * 4
        assert outbox.disk_full
        disk.clear()
        assert outbox.append_now(b"after", 7) is not None
    assert not outbox.disk_full
    assert caplog.text.count("cannot write") == 1  # once per episode, not per frame
    assert caplog.text.count("writing again; 20 samples were dropped") == 1
    assert dropped(outbox)["disk_full"] == 4 * 5
    assert outbox.counts().pending_frames == 2
    outbox.close()
    with Spool(tmp_path / "spool") as spool:
        assert payloads(spool) == [b"before", b"after"]  # nothing torn, nothing extra


def test_other_write_errors_still_raise(tmp_path: Path, disk: DiskFault) -> None:
    outbox = Outbox(tmp_path / "spool", SpoolConfig())
    disk.fail(".seg", code=errno.EBADF)
    with pytest.raises(OSError):
        outbox.append_now(b"x", 1)
    disk.clear()
    outbox.close()


def test_a_segment_that_cannot_be_created_drops_the_frame_and_the_next_roll_works(
    tmp_path: Path, disk: DiskFault
) -> None:
    config = SpoolConfig(max_bytes=16384)  # segments of 4 KiB
    outbox = Outbox(tmp_path / "spool", config)
    frame = b"f" * 1500
    accepted = [i for i in range(2) if outbox.append_now(frame + bytes([i]), 1)]
    disk.fail("1.seg")  # the next segment's name ends in ...001.seg
    assert outbox.append_now(frame + b"\x02", 1) is None
    disk.clear()
    assert outbox.append_now(frame + b"\x03", 1) is not None
    assert dropped(outbox)["disk_full"] == 1
    outbox.close()
    with Spool(tmp_path / "spool", max_bytes=16384, segment_bytes=4096) as spool:
        assert [p[-1] for p in payloads(spool)] == [*accepted, 3]


# -- the read position ----------------------------------------------------------------------


def test_an_ack_whose_position_cannot_be_written_costs_redelivery_not_loss(
    tmp_path: Path, disk: DiskFault
) -> None:
    spool = Spool(tmp_path / "spool", fsync=FsyncPolicy.NEVER)
    for i in range(5):
        spool.append(bytes([i]))
    records = spool.peek(5)
    spool.ack(records[0].id)
    disk.fail("position")
    spool.ack(records[2].id)  # does not raise
    assert spool.position_behind
    crashed = crash_copy(tmp_path / "spool", tmp_path / "crash-1")
    with Spool(crashed) as again:  # the older position: 1 and 2 again, never 3 or 4 lost
        assert payloads(again) == [b"\x01", b"\x02", b"\x03", b"\x04"]
    disk.clear()
    spool.ack(records[3].id)
    assert not spool.position_behind
    crashed = crash_copy(tmp_path / "spool", tmp_path / "crash-2")
    with Spool(crashed) as again:
        assert payloads(again) == [b"\x04"]
    spool.close()


def test_a_position_log_that_cannot_be_compacted_keeps_the_newest_position(
    tmp_path: Path, disk: DiskFault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(position_module, "LOG_BYTES", 3 * 28)  # compacts every third move
    spool = Spool(tmp_path / "spool", fsync=FsyncPolicy.NEVER)
    for i in range(8):
        spool.append(bytes([i]))
    records = spool.peek(8)
    spool.ack(records[0].id)
    disk.fail("position.new")  # only replacements fail: appends to the log still work
    for record in records[1:5]:
        spool.ack(record.id)
        crashed = crash_copy(tmp_path / "spool", tmp_path / f"crash-{record.payload[0]}")
        found = read_position(crashed)
        assert found is not None and found <= (record.id.segment, record.id.offset + 29)
        with Spool(crashed) as again:  # at least everything not acknowledged
            assert payloads(again)[-3:] == [b"\x05", b"\x06", b"\x07"]
    spool.close()  # the compaction on close fails too: the log stays as it was
    disk.clear()
    assert not list((tmp_path / "spool").glob("position.*"))  # no temporary file left
    with Spool(tmp_path / "spool") as again:
        kept = payloads(again)
    assert kept == [bytes([i]) for i in range(2, 8)]  # the last position the log took: ack 1
    spool = Spool(tmp_path / "spool", fsync=FsyncPolicy.NEVER)
    spool.ack(spool.peek(8)[-4].id)
    spool.close()
    with Spool(tmp_path / "spool") as again:
        assert payloads(again) == [b"\x05", b"\x06", b"\x07"]


# -- the journal ----------------------------------------------------------------------------


def test_ticks_the_journal_cannot_take_stay_out_and_journaling_resumes(
    tmp_path: Path, disk: DiskFault, caplog: pytest.LogCaptureFixture
) -> None:
    row = LOAD
    journal = Journal(tmp_path / "journal", FsyncPolicy.NEVER, 1.0)
    journal.record(0, "h", 1.0, 1000, [row])
    disk.fail(".seg")
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.journal"):
        journal.record(0, "h", 1.0, 2000, [row])
        journal.record(0, "h", 1.0, 3000, [row])
        assert journal.disk_full
        disk.clear()
        journal.record(0, "h", 1.0, 4000, [row])
    assert not journal.disk_full
    assert caplog.text.count("cannot write") == 1
    crashed = crash_copy(tmp_path / "journal", tmp_path / "crash")
    journal.close()
    again = Journal(crashed, FsyncPolicy.NEVER, 1.0)
    (frame,) = again.replay("00000000-0000-4000-8000-000000000000")
    assert frame.seq == 0 and frame.timestamps_ms == [1000, 4000]
    again.close()


def test_release_on_a_full_disk_does_not_raise_and_replays_no_released_tick_twice(
    tmp_path: Path, disk: DiskFault
) -> None:
    row = LOAD
    journal = Journal(tmp_path / "journal", FsyncPolicy.NEVER, 1.0)
    journal.record(0, "h", 1.0, 1000, [row])
    journal.record(1, "h", 1.0, 2000, [row])
    disk.fail("position")
    journal.release(1)  # frame 0 is in the spool; its position record cannot be written
    disk.clear()
    journal.record(1, "h", 1.0, 3000, [row])
    journal.release(2)  # writes the position again
    crashed = crash_copy(tmp_path / "journal", tmp_path / "crash")
    journal.close()
    again = Journal(crashed, FsyncPolicy.NEVER, 1.0)
    assert again.replay("00000000-0000-4000-8000-000000000000") == []
    again.close()


# -- the state file -------------------------------------------------------------------------


def test_sequence_numbers_are_not_handed_out_past_a_ceiling_that_could_not_be_saved(
    tmp_path: Path, disk: DiskFault
) -> None:
    with StateStore(tmp_path / "state", block=2) as state:
        assert [state.next_seq(), state.next_seq()] == [0, 1]
        disk.fail("seq.new")
        with pytest.raises(StateError) as caught:
            state.next_seq()
        assert isinstance(caught.value.__cause__, OSError)
        assert caught.value.__cause__.errno == errno.ENOSPC
        disk.clear()
        assert state.next_seq() == 2
    with StateStore(tmp_path / "state", block=2) as state:
        assert state.next_seq() == 4  # never reuses a number


# -- the agent's tick ------------------------------------------------------------------------


async def test_the_agent_counts_a_frame_that_got_no_sequence_number_and_keeps_ticking(
    tmp_path: Path, disk: DiskFault
) -> None:
    environ = {
        "HOSTVITALS_AGENT_COLLECTOR_URLS": "http://127.0.0.1:9",
        "HOSTVITALS_AGENT_HOST": "full-disk",
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_OUTAGE_FLUSH_INTERVAL": "1",
    }
    for field in dataclasses.fields(SamplersConfig):
        if field.name != "load":
            environ[f"HOSTVITALS_AGENT_SAMPLERS__{field.name.upper()}__ENABLED"] = "false"
    with StateStore(tmp_path, block=1) as state:
        agent = Agent(load_config(environ=environ), state)
        try:
            t0 = 1_700_000_000_000
            await agent._take(t0, 0)
            disk.fail("seq.new")
            await agent._take(t0 + 1000, 0)  # no number for its frame: dropped, counted
            assert agent.disk_full
            disk.fail(".seg")
            await agent._take(t0 + 2000, 0)  # a number, but no room in the spool
            disk.clear()
            await agent._take(t0 + 3000, 0)
            assert not agent.disk_full
            counts = agent.outbox.counts()
            assert counts.disk_full_samples == 2 * 3  # two ticks of node_load1/5/15
            assert counts.pending_frames == 2
            rows = {name: value for name, _, value in agent._stats_rows()}
            assert rows["hostvitals_agent_disk_full"] == 0
        finally:
            agent.registry.close()
            agent.outbox.close()
            agent.journal.close()
