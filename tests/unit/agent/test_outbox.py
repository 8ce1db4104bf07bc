"""The bounded in-memory frame queue."""

from __future__ import annotations

import pytest

from agent.outbox import MemoryQueue


def test_fifo_peek_and_ack() -> None:
    queue = MemoryQueue(100)
    assert queue.peek() is None
    queue.put(b"a" * 10, 1)
    queue.put(b"b" * 10, 2)
    head = queue.peek()
    assert head is not None and head.data == b"a" * 10 and head.sample_count == 1
    assert queue.peek() == head  # peek leaves it in place
    queue.ack(head)
    assert len(queue) == 1 and queue.size_bytes == 10
    second = queue.peek()
    assert second is not None and second.sample_count == 2
    queue.ack(second)
    assert queue.peek() is None and queue.size_bytes == 0


def test_overflow_drops_the_oldest_and_counts_samples() -> None:
    queue = MemoryQueue(30)
    for i in range(5):
        queue.put(bytes([i]) * 10, 100 + i)
    assert len(queue) == 3 and queue.size_bytes == 30
    head = queue.peek()
    assert head is not None and head.data == bytes([2]) * 10
    assert queue.dropped_samples == 100 + 101
    assert queue.dropped_frames == 2


def test_a_frame_larger_than_the_queue_is_dropped_alone() -> None:
    queue = MemoryQueue(30)
    queue.put(b"x" * 10, 1)
    queue.put(b"y" * 31, 50)
    assert len(queue) == 1
    assert queue.dropped_samples == 50


def test_ack_of_a_frame_dropped_meanwhile_is_ignored() -> None:
    queue = MemoryQueue(20)
    queue.put(b"a" * 10, 1)
    in_flight = queue.peek()
    assert in_flight is not None
    queue.put(b"b" * 10, 1)
    queue.put(b"c" * 10, 1)  # evicts the frame being sent
    queue.ack(in_flight)
    assert len(queue) == 2
    head = queue.peek()
    assert head is not None and head.data == b"b" * 10


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryQueue(0)
