"""The spool after crashes and damage: torn tails, flipped bytes, lost or bad position files.

A crash is simulated by copying the directory of a spool that is still open (the copy holds
exactly what the kernel had), power loss by also truncating or zero-filling what follows.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostvitals.agent.spool import Spool, SpoolStats
from hostvitals.agent.spool.format import HEADER_SIZE, encode_position
from hostvitals.agent.spool.position import POSITION_FILE


def payload(i: int, size: int = 40) -> bytes:
    return f"record-{i:05d}".encode().ljust(size, b".")


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def drain(spool: Spool) -> list[bytes]:
    out: list[bytes] = []
    while batch := spool.peek(max_records=5):
        out.extend(r.payload for r in batch)
        spool.ack(batch[-1].id)
    return out


def crashed_copy(source: Path, target: Path) -> Path:
    """The directory as a kill -9 would leave it, taken while the spool is open."""
    shutil.copytree(source, target)
    return target


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


RECORD = HEADER_SIZE + 40


def test_unclosed_spool_keeps_appends_and_acks(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "live", segment_bytes=3 * RECORD)
    for i in range(10):
        spool.append(payload(i))
    spool.ack(spool.peek(4)[-1].id)
    copy = crashed_copy(tmp_path / "live", tmp_path / "copy")
    spool.close()
    with Spool(copy, segment_bytes=3 * RECORD) as recovered:
        assert recovered.stats() == SpoolStats(6, 6 * RECORD, 0, 0, 0, 0)
        assert drain(recovered) == [payload(i) for i in range(4, 10)]


@pytest.mark.parametrize("cut", [1, 10, HEADER_SIZE, HEADER_SIZE + 1, RECORD - 1])
def test_torn_tail_is_counted_truncated_and_appends_continue(tmp_path: Path, cut: int) -> None:
    with Spool(tmp_path) as spool:
        for i in range(5):
            spool.append(payload(i))
    (segment,) = segment_files(tmp_path)
    os.truncate(segment, 4 * RECORD + cut)

    with Spool(tmp_path) as spool:
        stats = spool.stats()
        assert (stats.corrupt_records, stats.corrupt_bytes) == (1, cut)
        assert stats.pending_records == 4
        assert segment.stat().st_size == 4 * RECORD
        spool.append(payload(99))
        assert [r.payload for r in spool.peek(10)] == [*(payload(i) for i in range(4)), payload(99)]

    with Spool(tmp_path) as spool:
        assert spool.stats().corrupt_records == 0
        assert drain(spool) == [*(payload(i) for i in range(4)), payload(99)]


def test_zero_filled_tail_after_power_loss_is_cut_off(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(3):
            spool.append(payload(i))
    (segment,) = segment_files(tmp_path)
    with segment.open("ab") as f:
        f.write(bytes(4096))
    with Spool(tmp_path) as spool:
        stats = spool.stats()
        assert (stats.corrupt_records, stats.corrupt_bytes) == (1, 4096)
        assert segment.stat().st_size == 3 * RECORD
        assert drain(spool) == [payload(i) for i in range(3)]


@pytest.mark.parametrize(
    "where",
    [0, 3, 4, 8, 12, 20, 24, 27, HEADER_SIZE, RECORD - 1],
    ids=lambda w: f"byte{w}",
)
def test_flipped_byte_in_a_middle_record_is_skipped(tmp_path: Path, where: int) -> None:
    with Spool(tmp_path) as spool:
        for i in range(6):
            spool.append(payload(i), weight=i + 1)
    (segment,) = segment_files(tmp_path)
    flip_byte(segment, 2 * RECORD + where)

    with Spool(tmp_path) as spool:
        stats = spool.stats()
        assert (stats.corrupt_records, stats.corrupt_bytes) == (1, RECORD)
        assert stats.pending_records == 5
        records = spool.peek(10)
        assert [r.payload for r in records] == [payload(i) for i in (0, 1, 3, 4, 5)]
        assert [r.weight for r in records] == [1, 2, 4, 5, 6]
        spool.ack(records[-1].id)
        assert spool.stats().pending_bytes == 0


def test_damage_found_while_running_is_skipped_and_counted(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=4 * RECORD) as spool:
        for i in range(8):
            spool.append(payload(i))
        first, second = segment_files(tmp_path)
        flip_byte(first, 2 * RECORD + HEADER_SIZE + 5)
        flip_byte(second, 0)
        records = spool.peek(10)
        assert [r.payload for r in records] == [payload(i) for i in (0, 1, 3, 5, 6, 7)]
        stats = spool.stats()
        assert (stats.corrupt_records, stats.corrupt_bytes) == (2, 2 * RECORD)
        assert stats.pending_records == 6
        spool.ack(records[-1].id)
        assert spool.stats().pending_records == 0
        assert spool.peek() == []


def test_garbage_at_the_end_of_an_older_segment_is_skipped(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=3 * RECORD) as spool:
        for i in range(6):
            spool.append(payload(i))
    first, _ = segment_files(tmp_path)
    with first.open("ab") as f:
        f.write(b"\xf3HVR" + b"junk" * 10)
    with Spool(tmp_path, segment_bytes=3 * RECORD) as spool:
        assert spool.stats().corrupt_records == 1
        assert drain(spool) == [payload(i) for i in range(6)]
        assert spool.stats().pending_bytes == 0


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", bytes(28), encode_position(0, 0)[:-1] + b"\x00"],
    ids=["empty", "garbage", "zeros", "bad-crc"],
)
def test_damaged_position_restarts_from_the_oldest_segment(tmp_path: Path, content: bytes) -> None:
    with Spool(tmp_path, segment_bytes=3 * RECORD) as spool:
        for i in range(8):
            spool.append(payload(i))
        spool.ack(spool.peek(5)[-1].id)  # segment 0 is gone, segment 1 is half consumed
    (tmp_path / POSITION_FILE).write_bytes(content)
    with Spool(tmp_path, segment_bytes=3 * RECORD) as spool:
        assert drain(spool) == [payload(i) for i in range(3, 8)]


def test_missing_position_restarts_from_the_oldest_segment(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(4):
            spool.append(payload(i))
        spool.ack(spool.peek(2)[-1].id)
    (tmp_path / POSITION_FILE).unlink()
    (tmp_path / "position.tmp").write_bytes(b"half-written")
    with Spool(tmp_path) as spool:
        assert drain(spool) == [payload(i) for i in range(4)]
    assert not (tmp_path / "position.tmp").exists()


def test_position_past_the_data_means_consumed(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=3 * RECORD) as spool:
        for i in range(6):
            spool.append(payload(i))
    first, _ = segment_files(tmp_path)
    first_index = int(first.stem)
    (tmp_path / POSITION_FILE).write_bytes(encode_position(first_index, 10**9))
    with Spool(tmp_path, segment_bytes=3 * RECORD) as spool:
        assert drain(spool) == [payload(i) for i in range(3, 6)]
    assert not first.exists()


def test_position_inside_a_record_redelivers_it(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(4):
            spool.append(payload(i))
    (segment,) = segment_files(tmp_path)
    (tmp_path / POSITION_FILE).write_bytes(encode_position(int(segment.stem), RECORD + 7))
    with Spool(tmp_path) as spool:
        assert drain(spool) == [payload(i) for i in range(1, 4)]


def test_position_at_a_missing_segment_skips_older_ones(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=2 * RECORD) as spool:
        for i in range(6):
            spool.append(payload(i))
    first, second, _ = segment_files(tmp_path)
    second.unlink()
    (tmp_path / POSITION_FILE).write_bytes(encode_position(int(second.stem), RECORD))
    with Spool(tmp_path, segment_bytes=2 * RECORD) as spool:
        assert drain(spool) == [payload(4), payload(5)]
    assert not first.exists()


def test_position_past_every_segment_starts_a_fresh_one(tmp_path: Path) -> None:
    (tmp_path / POSITION_FILE).write_bytes(encode_position(41, 500))
    with Spool(tmp_path) as spool:
        spool.append(b"new")
        (record,) = spool.peek()
        assert record.id.segment == 42


def test_redelivery_after_crash_is_only_of_unacknowledged_records(tmp_path: Path) -> None:
    """A child process appends and acknowledges until it is killed with SIGKILL."""
    directory = tmp_path / "spool"
    program = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from hostvitals.agent.spool import Spool

        spool = Spool(Path(sys.argv[1]), segment_bytes=4096)
        i = 0
        while True:
            spool.append(b"record-%08d" % i + b"." * 100, weight=1)
            if i % 3 == 2:
                spool.ack(spool.peek()[0].id)
                print("ack", flush=True)
            print(i, flush=True)
            i += 1
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", program, str(directory)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert child.stdout is not None
    appended = acked = 0
    for line in child.stdout:
        if line.strip() == "ack":
            acked += 1
        else:
            appended = int(line) + 1
        if appended >= 300:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert appended >= 300, "the writer stopped before it was killed"

    with Spool(directory, segment_bytes=4096) as spool:
        got = drain(spool)
        assert spool.stats().corrupt_records == 0
    numbers = [int(p[len("record-") : len("record-") + 8]) for p in got]
    # Every append that returned is there; the first records were acknowledged, in order.
    assert numbers == list(range(numbers[0], numbers[-1] + 1))
    assert numbers[-1] >= appended - 1
    assert numbers[0] >= acked


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=12),
    cut_fraction=st.floats(min_value=0, max_value=1),
)
def test_any_truncation_keeps_every_whole_record(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], cut_fraction: float
) -> None:
    directory = tmp_path_factory.mktemp("truncate")
    payloads = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    with Spool(directory) as spool:
        for data in payloads:
            spool.append(data)
    (segment,) = segment_files(directory)
    ends = list(itertools.accumulate(HEADER_SIZE + size for size in sizes))
    cut = int(ends[-1] * cut_fraction)
    os.truncate(segment, cut)

    with Spool(directory) as spool:
        stats = spool.stats()
        got = drain(spool)
    whole = sum(1 for end in ends if end <= cut)
    last_end = ends[whole - 1] if whole else 0
    assert got == payloads[:whole]
    assert stats.corrupt_records == (0 if cut == last_end else 1)
    assert stats.corrupt_bytes == cut - last_end


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=10),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    mask=st.integers(min_value=1, max_value=255),
)
def test_any_flipped_byte_loses_only_its_record(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], position: float, mask: int
) -> None:
    directory = tmp_path_factory.mktemp("flip")
    payloads = [bytes([65 + i % 26]) * size for i, size in enumerate(sizes)]
    with Spool(directory) as spool:
        for data in payloads:
            spool.append(data, weight=len(data))
    (segment,) = segment_files(directory)
    content = bytearray(segment.read_bytes())
    where = int(len(content) * position)
    content[where] ^= mask
    segment.write_bytes(bytes(content))
    starts = [0]
    for p in payloads:
        starts.append(starts[-1] + HEADER_SIZE + len(p))
    damaged = max(i for i, s in enumerate(starts[:-1]) if s <= where)

    with Spool(directory) as spool:
        stats = spool.stats()
        got = drain(spool)
    assert got == payloads[:damaged] + payloads[damaged + 1 :]
    assert (stats.corrupt_records, stats.corrupt_bytes) == (1, HEADER_SIZE + sizes[damaged])


def test_damage_in_the_acknowledged_part_is_not_counted(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(5):
            spool.append(payload(i))
        spool.ack(spool.peek(3)[-1].id)
    (segment,) = segment_files(tmp_path)
    flip_byte(segment, RECORD + 5)
    with Spool(tmp_path) as spool:
        assert spool.stats().corrupt_records == 0
        assert drain(spool) == [payload(3), payload(4)]


def test_a_failed_write_leaves_no_partial_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_pwrite = os.pwrite

    def half_then_full_disk(fd: int, data: bytes, offset: int, /) -> int:
        real_pwrite(fd, bytes(data)[: len(data) // 2], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    with Spool(tmp_path) as spool:
        spool.append(payload(0))
        monkeypatch.setattr(os, "pwrite", half_then_full_disk)
        with pytest.raises(OSError, match="No space"):
            spool.append(b"x" * 1000)
        monkeypatch.setattr(os, "pwrite", real_pwrite)
        spool.append(payload(2))
        assert [r.payload for r in spool.peek(5)] == [payload(0), payload(2)]
    with Spool(tmp_path) as spool:
        assert spool.stats().corrupt_records == 0
        assert drain(spool) == [payload(0), payload(2)]
