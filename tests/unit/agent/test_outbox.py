"""The outbox: frames on disk in the spool, drops counted in samples by reason."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostvitals.agent.config import SpoolConfig
from hostvitals.agent.outbox import Outbox
from hostvitals.agent.spool import RecordId
from hostvitals.agent.spool.format import HEADER_SIZE
from tests.support.clock import ManualClock


def test_frames_are_appended_in_order_and_survive_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, SpoolConfig())
    ids = [outbox.append_now(bytes([i]) * 100, i + 1) for i in range(3)]
    assert all(ids) and ids == sorted(ids)  # type: ignore[type-var]
    outbox.close()
    again = Outbox(tmp_path, SpoolConfig())
    counts = again.counts()
    assert (counts.pending_frames, counts.pending_bytes) == (3, 3 * (100 + HEADER_SIZE))
    again.close()


async def test_async_peek_and_ack(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, SpoolConfig())
    for i in range(3):
        await outbox.append(bytes([i]) * 10, 1)
    records = await outbox.peek(2, 1 << 20)
    assert [r.payload[0] for r in records] == [0, 1]
    await outbox.ack(records[-1].id)
    assert outbox.counts().pending_frames == 1
    await outbox.flush()
    outbox.close()


def test_a_full_spool_drops_the_oldest_counting_samples_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path, SpoolConfig(max_bytes=65536))
    payload = b"x" * (10_000 - HEADER_SIZE)  # six fit, the seventh pushes the oldest out
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.outbox"):
        for _ in range(10):
            outbox.append_now(payload, 7)
    counts = outbox.counts()
    assert counts.pending_frames == 6
    assert counts.full_samples == 4 * 7
    assert counts.expired_samples == 0
    assert caplog.text.count("is full") == 1
    outbox.close()


def test_frames_older_than_the_age_bound_are_dropped_as_expired(tmp_path: Path) -> None:
    clock = ManualClock(1000000.0)
    outbox = Outbox(tmp_path, SpoolConfig(max_age=60), clock=clock)
    outbox.append_now(b"old", 5)
    clock.now += 61
    outbox.append_now(b"new", 3)
    counts = outbox.counts()
    assert (counts.pending_frames, counts.expired_samples, counts.full_samples) == (1, 5, 0)
    outbox.close()


def test_a_frame_larger_than_the_whole_spool_is_dropped_and_counted(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, SpoolConfig(max_bytes=65536))
    outbox.append_now(b"keep", 1)
    assert outbox.append_now(b"x" * 70_000, 9) is None
    counts = outbox.counts()
    assert (counts.pending_frames, counts.full_samples) == (1, 9)
    outbox.close()


def test_damage_found_on_open_is_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path, SpoolConfig())
    for i in range(3):
        outbox.append_now(bytes([65 + i]) * 50, 1)
    outbox.close()
    (segment,) = tmp_path.glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[HEADER_SIZE + 50 + HEADER_SIZE + 10] ^= 0xFF  # a byte of the second payload
    segment.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="hostvitals.agent.outbox"):
        again = Outbox(tmp_path, SpoolConfig())
    counts = again.counts()
    assert (counts.pending_frames, counts.corrupt_records) == (2, 1)
    assert "damaged" in caplog.text
    again.close()


# -- frames whose fate is decided outside the spool ------------------------------------------

FRAME = 10_000 - HEADER_SIZE
"""A payload of which six frames fit in a 64 KiB spool: the seventh pushes the oldest out."""


def full_outbox(tmp_path: Path, weights: list[int]) -> tuple[Outbox, list[RecordId]]:
    outbox = Outbox(tmp_path, SpoolConfig(max_bytes=65536))
    ids = [outbox.append_now(b"x" * FRAME, weight) for weight in weights]
    assert None not in ids
    return outbox, ids  # type: ignore[return-value]


def test_a_frame_dropped_on_its_way_then_delivered_is_not_lost(tmp_path: Path) -> None:
    outbox, ids = full_outbox(tmp_path, [7, 5, 1, 1, 1, 1])
    assert outbox.start_send(ids[0], 7)
    outbox.append_now(b"x" * FRAME, 1)  # drops frame 0 while it is on its way
    outbox.append_now(b"x" * FRAME, 1)  # and frame 1, which nothing was sending: lost
    assert outbox.gone(ids[0]) and outbox.gone(ids[1])
    assert outbox.counts().full_samples == 5
    outbox.end_send(ids[0], delivered=True)
    counts = outbox.counts()
    assert (counts.full_samples, counts.expired_samples, counts.pending_frames) == (5, 0, 6)
    outbox.close()


def test_a_frame_dropped_on_its_way_whose_round_fails_is_lost_once(tmp_path: Path) -> None:
    outbox, ids = full_outbox(tmp_path, [7, 1, 1, 1, 1, 1])
    assert outbox.start_send(ids[0], 7)
    outbox.append_now(b"x" * FRAME, 1)
    assert outbox.counts().full_samples == 0  # its fate is still open
    outbox.end_send(ids[0], delivered=False)
    assert outbox.counts().full_samples == 7
    assert not outbox.start_send(ids[0], 7)  # not sent again, not counted again
    assert outbox.counts().full_samples == 7
    outbox.close()


def test_a_frame_dropped_before_its_round_could_start_is_lost_once(tmp_path: Path) -> None:
    outbox, ids = full_outbox(tmp_path, [7, 1, 1, 1, 1, 1])
    outbox.append_now(b"x" * FRAME, 1)
    assert outbox.counts().full_samples == 7
    assert not outbox.start_send(ids[0], 7)
    assert outbox.counts().full_samples == 7
    outbox.close()


def test_delivered_frames_a_whole_segment_drop_takes_are_not_lost(tmp_path: Path) -> None:
    """Sixteen frames fill four 16 KiB segments; a large frame then needs more than the whole
    first segment, which goes without its records being read, and the next frame.
    """
    outbox = Outbox(tmp_path, SpoolConfig(max_bytes=65536))
    ids = [outbox.append_now(b"x" * (4000 - HEADER_SIZE), 2**i) for i in range(16)]
    assert None not in ids and len({i.segment for i in ids[:4]}) == 1  # type: ignore[union-attr]
    first = [i for i in ids[:4] if i is not None]
    for record_id, weight in zip(first[1:3], (2, 4), strict=True):  # delivered, not acked
        assert outbox.start_send(record_id, weight)
        outbox.end_send(record_id, delivered=True)
    assert outbox.start_send(first[0], 1)  # on its way
    outbox.append_now(b"L" * 17_600, 100)
    assert all(outbox.gone(i) for i in ids[:5]) and not outbox.gone(ids[5])  # type: ignore[arg-type]
    assert outbox.counts().full_samples == 8 + 16  # frames 3 and 4: nothing was sending them
    outbox.end_send(first[0], delivered=False)
    assert outbox.counts().full_samples == 1 + 8 + 16
    outbox.close()


def test_frames_expired_on_their_way_are_lost_as_expired_not_as_full(tmp_path: Path) -> None:
    clock = ManualClock(1000000.0)
    outbox = Outbox(tmp_path, SpoolConfig(max_age=60, max_bytes=65536), clock=clock)
    old = [outbox.append_now(b"old", weight) for weight in (5, 3)]
    assert old[0] is not None and old[1] is not None
    assert outbox.start_send(old[0], 5) and outbox.start_send(old[1], 3)
    clock.now += 61
    for _ in range(7):  # the size bound drops the first of these
        outbox.append_now(b"x" * FRAME, 1)
    outbox.end_send(old[0], delivered=False)
    outbox.end_send(old[1], delivered=True)
    counts = outbox.counts()
    assert (counts.expired_samples, counts.full_samples, counts.pending_frames) == (5, 1, 6)
    outbox.close()


async def test_frames_delivered_out_of_order_are_acknowledged_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path, SpoolConfig())
    ids = [await outbox.append(bytes([i]) * 10, 1) for i in range(3)]
    for record_id in ids[1:]:
        assert record_id is not None and outbox.start_send(record_id, 1)
        outbox.end_send(record_id, delivered=True)
    assert not await outbox.ack_delivered(await outbox.peek(5, 1 << 20))
    assert outbox.counts().pending_frames == 3
    assert ids[0] is not None and outbox.start_send(ids[0], 1)
    outbox.end_send(ids[0], delivered=True)
    assert await outbox.ack_delivered(await outbox.peek(5, 1 << 20))
    assert outbox.counts().pending_frames == 0
    outbox.close()
