"""Where encoded frames wait for the collector.

The sender talks to a ``FrameQueue``: ``put`` a frame, ``peek`` at the oldest, ``ack`` it once
it is delivered (or given up on). ``MemoryQueue`` is the bounded in-memory implementation:
when it is full the oldest frames are dropped and their samples counted. An on-disk spool with
the same shape can take its place.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class QueuedFrame:
    data: bytes
    """The encoded frame (msgpack, uncompressed)."""
    sample_count: int
    key: object
    """Identifies the entry for ``ack``; opaque, meaningful only to the queue that issued it."""


class FrameQueue(Protocol):
    def put(self, data: bytes, sample_count: int) -> None:
        """Append a frame; may drop the oldest frames to stay within bounds."""

    def peek(self) -> QueuedFrame | None:
        """The oldest frame not yet acknowledged, left in place."""

    def ack(self, frame: QueuedFrame) -> None:
        """Remove a frame returned by ``peek``; a frame already dropped is ignored."""

    def __len__(self) -> int:
        """Frames waiting."""

    @property
    def size_bytes(self) -> int:
        """Bytes of frames waiting."""

    @property
    def dropped_samples(self) -> int:
        """Samples of frames dropped because the queue was full, over its life."""


class MemoryQueue:
    """A FIFO bounded by total bytes that drops the oldest frames on overflow."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self._max_bytes = max_bytes
        self._items: deque[QueuedFrame] = deque()
        self._bytes = 0
        self._dropped_samples = 0
        self._dropped_frames = 0
        self._keys = itertools.count()

    def put(self, data: bytes, sample_count: int) -> None:
        if len(data) > self._max_bytes:  # could never fit: drop it rather than empty the queue
            self._drop(sample_count)
            return
        while self._items and self._bytes + len(data) > self._max_bytes:
            oldest = self._items.popleft()
            self._bytes -= len(oldest.data)
            self._drop(oldest.sample_count)
        self._items.append(QueuedFrame(data, sample_count, next(self._keys)))
        self._bytes += len(data)

    def peek(self) -> QueuedFrame | None:
        return self._items[0] if self._items else None

    def ack(self, frame: QueuedFrame) -> None:
        if self._items and self._items[0].key == frame.key:
            self._items.popleft()
            self._bytes -= len(frame.data)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def dropped_samples(self) -> int:
        return self._dropped_samples

    @property
    def dropped_frames(self) -> int:
        return self._dropped_frames

    def _drop(self, sample_count: int) -> None:
        self._dropped_samples += sample_count
        self._dropped_frames += 1
