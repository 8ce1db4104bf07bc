"""Re-send the last seconds of writes after VictoriaMetrics restarts.

VictoriaMetrics acknowledges an import before the rows are on disk: they wait in memory for
a few seconds first. Measured with Debian's 1.79: rows acknowledged 3 s before a ``kill -9``
were gone after the restart, rows acknowledged 6 s before it were kept. The collector has
answered those frames' agents 2xx by then and the agents have dropped them from their spools,
so an unclean stop (a crash, the OOM killer, a power cut) would lose accepted data.

So every VictoriaMetrics the collector writes to keeps a :class:`RecentWrites`: the import
bodies of the last ``window_s`` seconds of successful writes, zstd-compressed, bounded in
bytes. A :class:`RestartWatch` thread reads VictoriaMetrics' start time
(``vm_app_start_timestamp`` on ``/metrics``) every few seconds; when it changes, or when
VictoriaMetrics answers again after being unreachable, the kept bodies are written again.
Writing a row twice is harmless: ``-dedup.minScrapeInterval`` stores one sample per series
and timestamp, and the values are the same.

The window is measured back from the newest write, not from now: while VictoriaMetrics is
down nothing new is written, so the seconds before the crash are still there when it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import zstandard

from hostvitals.collector.periodic import PeriodicThread
from hostvitals.collector.selfmetrics import ResendMetrics

log = logging.getLogger(__name__)

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


class ImportClient(Protocol):
    def post_import(self, body: bytes) -> tuple[int, str]: ...

    def start_time(self) -> float: ...


class RestartWatch:
    """Notices a restart (or a return after an outage) of one VictoriaMetrics and re-sends.

    ``client`` answers ``start_time()`` (raises when VictoriaMetrics cannot be asked) and
    ``post_import``. A re-send that fails is tried again at the next check.
    """

    def __init__(
        self,
        target: str,
        client: ImportClient,
        recent: RecentWrites,
        metrics: ResendMetrics,
        interval_s: float,
    ) -> None:
        self.target = target
        self._client = client
        self.recent = recent
        self._metrics = metrics
        self._started_at: float | None = None
        self._away = False
        self._pending = False
        self._thread = PeriodicThread(
            f"victoriametrics-restart-watch-{target}",
            interval_s,
            self.check,
            what=f"restart watch of VictoriaMetrics ({target})",
        )
        metrics.window_bytes.labels(target).set_function(lambda: float(recent.size))
        metrics.dropped_bytes.labels(target).set_function(lambda: float(recent.dropped_bytes))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._thread.stop(timeout)

    def check(self) -> None:
        """One look at VictoriaMetrics' start time; re-send when it restarted or came back."""
        try:
            started_at = self._client.start_time()
        except Exception:
            self._away = True
            return
        restarted = self._started_at is not None and started_at != self._started_at
        if restarted:
            self._metrics.restarts.labels(self.target).inc()
            log.warning(
                "VictoriaMetrics (%s) restarted: writing the last %.0f s of data again",
                self.target,
                self.recent.window_s,
            )
        returned = self._away and self._started_at is not None
        self._started_at = started_at
        self._away = False
        if restarted or returned or self._pending:
            self._pending = not self._resend()

    def _resend(self) -> bool:
        bodies = self.recent.bodies()
        sent = 0
        for body in bodies:
            try:
                status, text = self._client.post_import(body)
            except Exception as exc:
                log.warning("re-send to VictoriaMetrics (%s) failed: %s", self.target, exc)
                self._metrics.resends.labels(self.target, "error").inc()
                return False
            if not 200 <= status < 300:
                log.warning(
                    "re-send to VictoriaMetrics (%s) answered %s: %s",
                    self.target,
                    status,
                    text[:300],
                )
                self._metrics.resends.labels(self.target, "error").inc()
                return False
            sent += len(body)
        self._metrics.resent_bytes.labels(self.target).inc(sent)
        self._metrics.resends.labels(self.target, "ok").inc()
        if bodies:
            log.info("re-sent %d bytes to VictoriaMetrics (%s)", sent, self.target)
        return True
