"""A circuit breaker in front of VictoriaMetrics writes: closed, open, half-open.

- closed: ingests go through. ``failure_threshold`` failed writes in a row (no answer, 5xx,
  429, or an answer slower than ``slow_write_s``) open the breaker. While a write has been
  running longer than ``slow_write_s``, new ingests are refused too rather than queued
  behind it.
- open: every ingest is answered 503 at once, with ``Retry-After`` set to the time left,
  so agents keep their frames in their spools instead of waiting on a dead store.
- half-open: after ``open_s``, up to ``half_open_max_requests`` ingests are let through as
  a trial; the next write's result closes the breaker (success) or opens it again.

Thread-safe: the event loop asks :meth:`admit`, the writer thread reports each write.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from enum import IntEnum


class BreakerState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int,
        open_s: float,
        half_open_max_requests: int,
        slow_write_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self._threshold = failure_threshold
        self._open_s = open_s
        self._half_open_max = half_open_max_requests
        self._slow = slow_write_s
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0
        self._write_started: float | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._refresh(self._clock())
            return self._state

    def admit(self) -> int | None:
        """None when an ingest may write; else the seconds it should wait (Retry-After)."""
        with self._lock:
            now = self._clock()
            self._refresh(now)
            if self._state is BreakerState.OPEN:
                return max(1, math.ceil(self._opened_at + self._open_s - now))
            if self._state is BreakerState.HALF_OPEN:
                if self._trials >= self._half_open_max:
                    return max(1, math.ceil(self._opened_at + self._open_s - now))
                self._trials += 1
                return None
            started = self._write_started
            if started is not None and now - started > self._slow:
                return max(1, math.ceil(self._slow))
            return None

    def write_started(self) -> None:
        with self._lock:
            self._write_started = self._clock()

    def write_finished(self, ok: bool) -> None:
        """Report a write: ``ok`` when VictoriaMetrics accepted it (a refusal of bad lines
        is the collector's bug, not the store's health: report it as ok)."""
        with self._lock:
            now = self._clock()
            started = self._write_started
            self._write_started = None
            slow = started is not None and now - started > self._slow
            if ok and not slow:
                self._failures = 0
                if self._state is not BreakerState.CLOSED:
                    self._set(BreakerState.CLOSED)
                return
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._opened_at = now
                self._set(BreakerState.OPEN)

    def _refresh(self, now: float) -> None:
        # Also from half-open: trials that never led to a write (duplicates, refused frames)
        # must not keep the breaker half-open with its trial slots used up.
        if self._state is not BreakerState.CLOSED and now - self._opened_at >= self._open_s:
            self._trials = 0
            self._opened_at = now
            if self._state is BreakerState.OPEN:
                self._set(BreakerState.HALF_OPEN)

    def _set(self, state: BreakerState) -> None:
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
