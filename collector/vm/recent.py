"""The import bodies of the last seconds of successful writes, kept for a re-send.

See :mod:`hostvitals.collector.vm.resend` for why: VictoriaMetrics acknowledges rows before
they are on disk, so the collector writes them again after an unclean restart.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import zstandard

ZSTD_LEVEL = 1
"""Import lines shrink about tenfold at level 1, at several hundred MB/s."""


class RecentWrites:
    """Compressed import bodies written within ``window_s`` of the newest one, in order.

    Thread-safe: several writer threads add, the watch thread takes. When the bodies exceed
    ``max_bytes`` the oldest leave early and their bytes are counted in ``dropped_bytes``
    (the window is then shorter than asked).
    """

    def __init__(
        self,
        window_s: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0:
            raise ValueError(f"window must be positive, not {window_s!r}")
        if max_bytes < 1:
            raise ValueError(f"the byte bound must be at least 1, not {max_bytes!r}")
        self.window_s = window_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: deque[tuple[float, bytes]] = deque()
        self._bytes = 0
        self.dropped_bytes = 0
        self._local = threading.local()

    def _compressor(self) -> zstandard.ZstdCompressor:
        # A compressor object is not safe to share between threads; one per writer thread.
        found: zstandard.ZstdCompressor | None = getattr(self._local, "zstd", None)
        if found is None:
            found = self._local.zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        return found

    def add(self, body: bytes) -> None:
        packed = self._compressor().compress(body)
        now = self._clock()
        with self._lock:
            self._entries.append((now, packed))
            self._bytes += len(packed)
            horizon = now - self.window_s
            while self._entries and (self._entries[0][0] < horizon or self._bytes > self.max_bytes):
                at, old = self._entries.popleft()
                self._bytes -= len(old)
                if at >= horizon:
                    self.dropped_bytes += len(old)

    @property
    def size(self) -> int:
        """Compressed bytes held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def bodies(self) -> list[bytes]:
        """The kept bodies, oldest first, as they were written (decompressed)."""
        with self._lock:
            packed = [body for _, body in self._entries]
        zstd = zstandard.ZstdDecompressor()
        return [zstd.decompress(body) for body in packed]
