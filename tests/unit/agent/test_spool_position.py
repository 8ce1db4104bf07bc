"""The read position as an append-only log: one record per move, compaction, torn and lost
appends, a crash at every byte of it, and spools written before the log."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hostvitals.agent.spool import FsyncPolicy, RecordId, Spool
from hostvitals.agent.spool import position as position_module
from hostvitals.agent.spool.format import HEADER_SIZE, POSITION_SIZE, encode_position
from hostvitals.agent.spool.position import POSITION_FILE, PositionLog, read_position
from hostvitals.agent.spool.segments import segment_name

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RECORD = HEADER_SIZE + 40


def payload(i: int, size: int = 40) -> bytes:
    return f"record-{i:05d}".encode().ljust(size, b".")


def drain(spool: Spool) -> list[bytes]:
    out: list[bytes] = []
    while batch := spool.peek(max_records=5):
        out.extend(r.payload for r in batch)
        spool.ack(batch[-1].id)
    return out


def test_every_move_of_the_position_appends_one_record(tmp_path: Path) -> None:
    with Spool(tmp_path, fsync=FsyncPolicy.NEVER) as spool:
        ids = [spool.append(payload(i)) for i in range(5)]
        size = (tmp_path / POSITION_FILE).stat().st_size
        assert size == POSITION_SIZE  # opening wrote the file afresh
        for moves, record_id in enumerate(ids[:3], start=1):
            spool.ack(record_id)
            assert (tmp_path / POSITION_FILE).stat().st_size == size + moves * POSITION_SIZE
            assert read_position(tmp_path) == (ids[0].segment, record_id.offset + RECORD)
        spool.ack(ids[1])  # already consumed: the position does not move
        spool.peek(2)
        assert (tmp_path / POSITION_FILE).stat().st_size == size + 3 * POSITION_SIZE


def test_the_log_is_compacted_before_it_passes_its_limit(tmp_path: Path) -> None:
    log = PositionLog(tmp_path, limit=4 * POSITION_SIZE)
    for offset in range(1, 20):
        log.write(7, offset)
        size = (tmp_path / POSITION_FILE).stat().st_size
        assert POSITION_SIZE <= size <= 4 * POSITION_SIZE
        assert read_position(tmp_path) == (7, offset)
    log.close()


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_closing_and_opening_leave_one_record(tmp_path: Path, policy: FsyncPolicy) -> None:
    """Closed cleanly, the file is in the one-record layout older versions read; opened after a
    crash (a copy of an open spool), the long log is replaced by one record as well."""
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    with Spool(live, fsync=policy) as spool:
        ids = [spool.append(payload(i)) for i in range(6)]
        for record_id in ids[:4]:
            spool.ack(record_id)
        assert (live / POSITION_FILE).stat().st_size == 5 * POSITION_SIZE
        shutil.copytree(live, crashed)
    assert (live / POSITION_FILE).stat().st_size == POSITION_SIZE
    for directory in (live, crashed):
        with Spool(directory, fsync=policy) as spool:
            assert (directory / POSITION_FILE).stat().st_size == POSITION_SIZE
            assert [r.payload for r in spool.peek(9)] == [payload(4), payload(5)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (encode_position(3, 10) + encode_position(3, 90), (3, 90)),
        (encode_position(3, 10) + encode_position(4, 0)[:-5], (3, 10)),  # torn append
        (encode_position(3, 10) + bytes(POSITION_SIZE) + encode_position(5, 1), (5, 1)),
        (encode_position(5, 1) + encode_position(3, 10), (5, 1)),  # written back out of order
        (encode_position(3, 10)[:-1] + b"\x00" + encode_position(2, 0), (2, 0)),
        (b"garbage" * 8, None),
    ],
    ids=["newest", "torn", "hole", "out-of-order", "bad-crc", "garbage"],
)
def test_the_greatest_intact_record_is_the_position(
    tmp_path: Path, content: bytes, expected: tuple[int, int] | None
) -> None:
    (tmp_path / POSITION_FILE).write_bytes(content)
    assert read_position(tmp_path) == expected


def test_a_crash_at_any_byte_of_the_log_loses_nothing_and_redelivers_at_most_one_ack(
    tmp_path: Path,
) -> None:
    """kill -9 (or power loss) right after each acknowledgement, and in the middle of writing
    it: the directory as it was then, with every prefix of the record being appended. Nothing
    unacknowledged is lost; a torn record brings back only the records of that one
    acknowledgement."""
    live = tmp_path / "live"
    snapshots: list[tuple[Path, bytes, int]] = []  # (directory, log before the ack, consumed)
    with Spool(live, segment_bytes=3 * RECORD, fsync=FsyncPolicy.NEVER) as spool:
        ids = [spool.append(payload(i)) for i in range(9)]
        for n in (1, 2, 4, 5, 7, 9):
            before = (live / POSITION_FILE).read_bytes()
            spool.ack(ids[n - 1])
            snapshot = tmp_path / f"after-{n}"
            shutil.copytree(live, snapshot)
            assert len((snapshot / POSITION_FILE).read_bytes()) == len(before) + POSITION_SIZE
            snapshots.append((snapshot, before, n))

    def first_on_disk(directory: Path) -> int:
        return min(i for i, r in enumerate(ids) if (directory / segment_name(r.segment)).exists())

    consumed_before = 0
    for snapshot, before, consumed in snapshots:
        after = (snapshot / POSITION_FILE).read_bytes()
        for cut in range(len(before), len(after) + 1):
            copy = tmp_path / "copy"
            shutil.copytree(snapshot, copy)
            (copy / POSITION_FILE).write_bytes(after[:cut])
            expected = consumed if cut == len(after) else consumed_before
            expected = max(expected, first_on_disk(copy))
            with Spool(copy, segment_bytes=3 * RECORD) as spool:
                assert drain(spool) == [payload(i) for i in range(expected, 9)], (consumed, cut)
            shutil.rmtree(copy)
        consumed_before = consumed


def test_a_crash_while_compacting_keeps_the_old_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compaction writes a temporary file and renames it: interrupted before the rename,
    the old log is whole and its temporary file is removed on open."""
    monkeypatch.setattr(position_module, "LOG_BYTES", 3 * POSITION_SIZE)
    live = tmp_path / "live"
    with Spool(live, fsync=FsyncPolicy.NEVER) as spool:
        ids = [spool.append(payload(i)) for i in range(6)]
        spool.ack(ids[0])
        spool.ack(ids[1])  # the log is full now: the next move replaces it

        def interrupted(*args: object, **kwargs: object) -> None:
            (live / f"{POSITION_FILE}.abc123.tmp").write_bytes(encode_position(0, 1)[:9])
            raise OSError("killed in the middle of the replacement")

        replace_file = position_module.replace_file
        monkeypatch.setattr(position_module, "replace_file", interrupted)
        with pytest.raises(OSError, match="killed"):
            spool.ack(ids[2])
        copy = tmp_path / "copy"
        shutil.copytree(live, copy)
        monkeypatch.setattr(position_module, "replace_file", replace_file)
    with Spool(copy) as spool:
        assert drain(spool) == [payload(i) for i in range(2, 6)]
    assert not list(copy.glob("*.tmp"))


def test_the_model_holds_while_the_log_is_compacted_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.unit.agent.test_spool_model import SpoolModel

    monkeypatch.setattr(position_module, "LOG_BYTES", 2 * POSITION_SIZE)
    SpoolModel.TestCase().runTest()


def test_a_spool_written_before_the_log_keeps_its_records_and_position(tmp_path: Path) -> None:
    """``spool-v1`` was written by the spool before the position log: eight records of
    weights 1 to 8 in segments of three, the first four acknowledged (a one-record position
    file, replaced at every move)."""
    directory = tmp_path / "spool"
    shutil.copytree(FIXTURES / "spool-v1", directory)
    assert (directory / POSITION_FILE).stat().st_size == POSITION_SIZE

    def clock() -> float:
        return 1_700_000_060.0  # a minute after the fixture's records were appended

    with Spool(directory, segment_bytes=200, clock=clock) as spool:
        records = spool.peek(10)
        assert [r.payload for r in records] == [f"frame-{i}".encode() * 4 for i in range(4, 8)]
        assert [r.weight for r in records] == [5, 6, 7, 8]
        assert records[0].id == RecordId(1, 56)
        spool.ack(records[1].id)
        spool.append(b"after the upgrade")
    with Spool(directory, segment_bytes=200, clock=clock) as spool:
        assert [r.payload for r in spool.peek(10)] == [
            b"frame-6" * 4,
            b"frame-7" * 4,
            b"after the upgrade",
        ]


def test_an_append_that_fails_leaves_the_log_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = PositionLog(tmp_path)
    log.write(1, 10)
    log.write(1, 20)

    pwrite = os.pwrite

    def short(fd: int, data: bytes, offset: int) -> int:
        return pwrite(fd, data[:5], offset)  # a part of it reached the file

    monkeypatch.setattr(os, "pwrite", short)
    with pytest.raises(OSError, match="short write"):
        log.write(1, 30)
    monkeypatch.undo()
    assert (tmp_path / POSITION_FILE).stat().st_size == 2 * POSITION_SIZE
    log.write(1, 40)
    assert read_position(tmp_path) == (1, 40)
    log.close()
