"""The outbox: frames on disk in the spool, drops counted in samples by reason."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hostvitals.agent.config import SpoolConfig
from hostvitals.agent.outbox import Outbox
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
