"""The spool's API: FIFO order, acknowledgement, bounds by size and age, argument checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostvitals.agent.spool import (
    Dropped,
    FsyncPolicy,
    RecordId,
    Spool,
    SpoolClosedError,
    SpoolLockedError,
    SpoolStats,
)
from hostvitals.agent.spool.format import HEADER_SIZE
from tests.support.clock import ManualClock


def payload(i: int, size: int = 20) -> bytes:
    return f"record-{i:05d}".encode().ljust(size, b".")


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def drain(spool: Spool) -> list[bytes]:
    """Everything pending, oldest first, acknowledged as it is read."""
    out: list[bytes] = []
    while batch := spool.peek(max_records=7):
        out.extend(r.payload for r in batch)
        spool.ack(batch[-1].id)
    return out


def test_fifo_order_across_segments_and_reopen(tmp_path: Path) -> None:
    expected = [payload(i) for i in range(40)]
    with Spool(tmp_path, segment_bytes=150) as spool:
        for data in expected:
            spool.append(data)
        first = spool.peek(max_records=100)
        assert [r.payload for r in first] == expected
        assert [r.id for r in first] == sorted(r.id for r in first)
    assert len(segment_files(tmp_path)) > 5
    with Spool(tmp_path, segment_bytes=150) as spool:
        again = spool.peek(max_records=100)
    assert again == first


def test_peek_does_not_remove_and_respects_limits(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        assert spool.peek() == []
        for i in range(5):
            spool.append(payload(i, size=100), weight=i + 1)
        assert [r.payload for r in spool.peek(2)] == [payload(0, 100), payload(1, 100)]
        assert [r.weight for r in spool.peek(5)] == [1, 2, 3, 4, 5]
        assert len(spool.peek(5, max_bytes=250)) == 2
        assert len(spool.peek(5, max_bytes=300)) == 3
        # The first record comes back even when it alone exceeds max_bytes.
        assert [r.payload for r in spool.peek(5, max_bytes=1)] == [payload(0, 100)]
        assert spool.stats().pending_records == 5


def test_ack_consumes_up_to_and_including_the_id(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        for i in range(6):
            spool.append(payload(i))
        batch = spool.peek(3)
        spool.ack(batch[1].id)
        assert [r.payload for r in spool.peek(10)] == [payload(i) for i in range(2, 6)]
        spool.ack(batch[0].id)  # already consumed: nothing happens
        spool.ack(batch[1].id)
        assert spool.stats().pending_records == 4


def test_ack_persists_across_reopen_and_segments_are_deleted(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        for i in range(30):
            spool.append(payload(i))
        before = len(segment_files(tmp_path))
        batch = spool.peek(20)
        spool.ack(batch[-1].id)
        assert len(segment_files(tmp_path)) < before
    with Spool(tmp_path, segment_bytes=200) as spool:
        assert drain(spool) == [payload(i) for i in range(20, 30)]
    with Spool(tmp_path, segment_bytes=200) as spool:
        assert spool.peek() == []
        assert spool.stats().pending_bytes == 0


def test_ids_keep_growing_after_everything_was_consumed(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=100) as spool:
        for i in range(5):
            spool.append(payload(i))
        old = spool.peek(5)
        spool.ack(old[-1].id)
    with Spool(tmp_path, segment_bytes=100) as spool:
        spool.append(payload(99))
        (new,) = spool.peek()
        assert new.id > old[-1].id
        spool.ack(old[-1].id)  # stale id from before the restart
        assert spool.peek() == [new]


def test_ack_rejects_ids_that_never_existed(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(payload(0))
        (record,) = spool.peek()
        with pytest.raises(ValueError, match="unknown record id"):
            spool.ack(RecordId(record.id.segment + 1, 0))
        with pytest.raises(TypeError):
            spool.ack((record.id.segment, record.id.offset))  # type: ignore[arg-type]
        assert spool.peek() == [record]


def test_pending_bytes_counts_headers_and_payloads(tmp_path: Path) -> None:
    sizes = [0, 1, 50, 3000]
    with Spool(tmp_path, segment_bytes=1000) as spool:
        for size in sizes:
            spool.append(b"x" * size, weight=size)
        stats = spool.stats()
        assert stats.pending_records == len(sizes)
        assert stats.pending_bytes == sum(HEADER_SIZE + s for s in sizes)
        spool.ack(spool.peek(2)[-1].id)
        assert spool.stats().pending_bytes == sum(HEADER_SIZE + s for s in sizes[2:])


def test_empty_payload_is_a_record(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append(b"", weight=0)
        spool.append(bytearray(b"ab"))
        spool.append(memoryview(b"cd"))
        assert [(r.payload, r.weight) for r in spool.peek(5)] == [(b"", 0), (b"ab", 1), (b"cd", 1)]


@pytest.mark.parametrize("segment_bytes", [100, 10_000])
def test_size_bound_drops_oldest_and_counts_records_and_weight(
    tmp_path: Path, segment_bytes: int
) -> None:
    record_size = HEADER_SIZE + 20
    with Spool(tmp_path, max_bytes=10 * record_size, segment_bytes=segment_bytes) as spool:
        for i in range(25):
            spool.append(payload(i), weight=i + 1)
        stats = spool.stats()
        assert stats.pending_records == 10
        assert stats.pending_bytes == 10 * record_size
        assert stats.dropped_records == 15
        assert stats.dropped_weight == sum(range(1, 16))
        assert drain(spool) == [payload(i) for i in range(15, 25)]


def test_size_bound_makes_room_for_a_large_record(tmp_path: Path) -> None:
    small = HEADER_SIZE + 20
    with Spool(tmp_path, max_bytes=10 * small, segment_bytes=3 * small) as spool:
        for i in range(10):
            spool.append(payload(i), weight=2)
        spool.append(b"L" * (6 * small - HEADER_SIZE), weight=100)
        stats = spool.stats()
        assert stats.dropped_records == 6
        assert stats.dropped_weight == 12
        assert stats.pending_bytes == 10 * small
        assert [r.payload for r in spool.peek(4)] == [payload(i) for i in (6, 7, 8, 9)]


def test_record_larger_than_max_bytes_is_refused(tmp_path: Path) -> None:
    with Spool(tmp_path, max_bytes=HEADER_SIZE + 100) as spool:
        spool.append(b"a" * 10)
        with pytest.raises(ValueError, match="exceeds"):
            spool.append(b"b" * 101)
        assert spool.stats() == SpoolStats(1, HEADER_SIZE + 10, 0, 0, 0, 0)
        spool.append(b"c" * 100)  # exactly max_bytes: fits after dropping the rest
        assert [r.payload for r in spool.peek(5)] == [b"c" * 100]
        assert spool.stats().dropped_records == 1


def test_age_bound_drops_oldest_with_exact_counts(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with Spool(tmp_path, max_age_s=100, clock=clock) as spool:
        for i in range(10):
            spool.append(payload(i), weight=10 + i)
            clock.now += 10
        # Now = start + 100: the first record is exactly max_age old and is kept.
        assert spool.stats().dropped_records == 0
        clock.now += 25  # records 0, 1 and 2 are now older than 100 s
        kept = spool.peek(20)
        assert [r.payload for r in kept] == [payload(i) for i in range(3, 10)]
        stats = spool.stats()
        assert (stats.dropped_records, stats.dropped_weight) == (3, 10 + 11 + 12)
        assert stats.pending_records == 7


def test_age_bound_drops_whole_segments_and_survives_reopen(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    options = {"max_age_s": 60.0, "segment_bytes": 200, "clock": clock}
    with Spool(tmp_path, **options) as spool:  # type: ignore[arg-type]
        for i in range(20):
            spool.append(payload(i), weight=1)
        clock.now += 30
        for i in range(20, 25):
            spool.append(payload(i), weight=1)
    assert len(segment_files(tmp_path)) > 3
    clock.now += 45
    with Spool(tmp_path, **options) as spool:  # type: ignore[arg-type]
        stats = spool.stats()
        assert (stats.dropped_records, stats.dropped_weight) == (20, 20)
        assert drain(spool) == [payload(i) for i in range(20, 25)]


def test_every_drop_is_reported_as_it_happens_with_the_ids_it_covers(tmp_path: Path) -> None:
    """A whole segment goes as the rest of it from the read position, a partial drop record by
    record; the reports add up to the counters.
    """
    record_size = HEADER_SIZE + 20
    seen: list[Dropped] = []
    options = {"max_bytes": 5 * record_size, "segment_bytes": 2 * record_size}
    with Spool(tmp_path, **options, on_drop=seen.append) as spool:  # type: ignore[arg-type]
        ids = [spool.append(payload(i), weight=i + 1) for i in range(5)]
        spool.ack(ids[0])  # segments now hold [1], [2, 3], [4]
        assert seen == []
        spool.append(payload(5, size=3 * record_size - HEADER_SIZE), weight=100)
        assert seen == [
            Dropped(ids[1], rest_of_segment=True, records=1, weight=2, expired=False),
            Dropped(ids[2], rest_of_segment=False, records=1, weight=3, expired=False),
        ]
        assert seen[0].covers(ids[1]) and not seen[0].covers(ids[2])
        assert seen[1].covers(ids[2]) and not seen[1].covers(ids[3])
        stats = spool.stats()
        assert (stats.dropped_records, stats.dropped_weight) == (2, 5)
        assert [r.payload for r in spool.peek(5)][:2] == [payload(3), payload(4)]


def test_drops_by_the_age_bound_are_reported_as_expired(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    seen: list[Dropped] = []
    record_size = HEADER_SIZE + 20
    options = {"max_age_s": 60.0, "segment_bytes": 2 * record_size, "clock": clock}
    with Spool(tmp_path, **options, on_drop=seen.append) as spool:  # type: ignore[arg-type]
        ids = [spool.append(payload(i), weight=1) for i in range(3)]
        clock.now += 30
        spool.append(payload(3), weight=1)
        clock.now += 31  # the first segment is too old as a whole, then record 2 alone
        assert spool.peek(5)[0].payload == payload(3)
    assert seen == [
        Dropped(ids[0], rest_of_segment=True, records=2, weight=2, expired=True),
        Dropped(ids[2], rest_of_segment=False, records=1, weight=1, expired=True),
    ]


def test_drop_while_records_are_peeked_then_ack_is_harmless(tmp_path: Path) -> None:
    record_size = HEADER_SIZE + 20
    with Spool(tmp_path, max_bytes=5 * record_size, segment_bytes=2 * record_size) as spool:
        for i in range(5):
            spool.append(payload(i))
        held = spool.peek(3)
        for i in range(5, 9):
            spool.append(payload(i))  # drops records 0..3 while 0..2 are held
        spool.ack(held[-1].id)
        assert spool.stats().dropped_records == 4
        assert drain(spool) == [payload(i) for i in range(4, 9)]


def test_drop_in_a_single_segment_while_peeked(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    with Spool(tmp_path, max_age_s=10, clock=clock) as spool:
        spool.append(payload(0), weight=3)
        spool.append(payload(1), weight=4)
        held = spool.peek(2)
        clock.now += 5
        spool.append(payload(2), weight=5)
        clock.now += 6
        stats = spool.stats()
        assert (stats.pending_records, stats.dropped_records, stats.dropped_weight) == (1, 2, 7)
        spool.ack(held[0].id)
        spool.ack(held[1].id)
        assert [r.payload for r in spool.peek(3)] == [payload(2)]


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_every_fsync_policy_keeps_data_and_position(tmp_path: Path, policy: FsyncPolicy) -> None:
    with Spool(tmp_path, fsync=policy, segment_bytes=120, fsync_interval_s=0.0) as spool:
        for i in range(10):
            spool.append(payload(i))
        spool.ack(spool.peek(4)[-1].id)
        spool.flush()
    with Spool(tmp_path, fsync=policy) as spool:
        assert drain(spool) == [payload(i) for i in range(4, 10)]


def test_a_directory_is_opened_by_one_spool_at_a_time(tmp_path: Path) -> None:
    with Spool(tmp_path), pytest.raises(SpoolLockedError):
        Spool(tmp_path)
    with Spool(tmp_path):
        pass


def test_closed_spool_refuses_work_but_reports_stats(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b"x")
    spool.close()
    spool.close()
    for call in (lambda: spool.append(b"y"), spool.peek, spool.flush):
        with pytest.raises(SpoolClosedError):
            call()
    with pytest.raises(SpoolClosedError):
        spool.ack(RecordId(0, 0))
    assert spool.stats().pending_records == 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_bytes": HEADER_SIZE - 1}, ValueError),
        ({"max_bytes": 1.5}, TypeError),
        ({"segment_bytes": 0}, ValueError),
        ({"max_age_s": 0}, ValueError),
        ({"max_age_s": float("nan")}, ValueError),
        ({"fsync_interval_s": -1}, ValueError),
        ({"fsync": "sometimes"}, ValueError),
        ({"clock": 3}, TypeError),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Spool(tmp_path, **kwargs)  # type: ignore[arg-type]
    with Spool(tmp_path):  # nothing was left locked
        pass


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        with pytest.raises(ValueError):
            spool.append(b"x", weight=-1)
        with pytest.raises(ValueError):
            spool.append(b"x", weight=2**32)
        with pytest.raises(TypeError):
            spool.append(b"x", weight=True)
        with pytest.raises(TypeError):
            spool.append("text")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            spool.peek(0)
        with pytest.raises(ValueError):
            spool.peek(1, max_bytes=0)
        spool.append(b"x", weight=2**32 - 1)
        assert spool.peek()[0].weight == 2**32 - 1


def test_a_clock_that_returns_nan_is_an_error(tmp_path: Path) -> None:
    with Spool(tmp_path, clock=lambda: float("nan")) as spool, pytest.raises(ValueError):
        spool.append(b"x")


class FsyncCounter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fd: int, /) -> None:
        self.calls += 1


@pytest.mark.parametrize(
    ("policy", "interval", "on_append", "on_ack"),
    [
        (FsyncPolicy.ALWAYS, 3600.0, True, True),
        (FsyncPolicy.INTERVAL, 0.0, True, True),
        (FsyncPolicy.INTERVAL, 3600.0, False, False),
        (FsyncPolicy.NEVER, 0.0, False, False),
    ],
)
def test_fsync_follows_the_policy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    policy: FsyncPolicy,
    interval: float,
    on_append: bool,
    on_ack: bool,
) -> None:
    fsync = FsyncCounter()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fsync)
    with Spool(tmp_path, fsync=policy, fsync_interval_s=interval) as spool:
        fsync.calls = 0
        spool.append(b"one")
        assert (fsync.calls > 0) == on_append
        fsync.calls = 0
        spool.ack(spool.peek()[0].id)
        assert (fsync.calls > 0) == on_ack
        fsync.calls = 0
        spool.append(b"two")
        spool.flush()
        assert fsync.calls > 0


def test_ack_head_acknowledges_only_the_oldest_pending_record(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        first = spool.append(b"first")
        second = spool.append(b"second")
        assert not spool.ack_head(second)  # "first" is still pending: nothing done
        assert [r.payload for r in spool.peek(10)] == [b"first", b"second"]
        assert spool.ack_head(first)
        assert spool.ack_head(second)
        assert spool.peek(10) == []
    with Spool(tmp_path) as spool:  # the acknowledgement was saved
        assert spool.peek(10) == []
