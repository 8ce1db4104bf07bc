"""Is VictoriaMetrics reachable? A cached check so health requests cannot hammer it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProbeResult:
    reachable: bool
    error: str | None
    checked_at: float


class ReachabilityProbe:
    """Runs ``ping`` (blocking, raises when unreachable) at most once per ``cache_s``.

    Concurrent callers share one check: the first runs it in a worker thread, the others
    wait for it and read its result.
    """

    def __init__(
        self,
        ping: Callable[[], None],
        cache_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ping = ping
        self._cache_s = cache_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: ProbeResult | None = None

    async def check(self) -> ProbeResult:
        last = self._last
        if last is not None and self._clock() - last.checked_at < self._cache_s:
            return last
        return await asyncio.to_thread(self._check_blocking)

    def _check_blocking(self) -> ProbeResult:
        with self._lock:
            last = self._last
            if last is not None and self._clock() - last.checked_at < self._cache_s:
                return last
            try:
                self._ping()
            except Exception as exc:
                result = ProbeResult(False, f"{type(exc).__name__}: {exc}", self._clock())
            else:
                result = ProbeResult(True, None, self._clock())
            self._last = result
            return result
