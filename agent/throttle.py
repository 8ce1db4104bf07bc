"""Rate limiting for repeated log lines: one line per key per period, with a count of the rest."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable


class Throttle:
    """Lets one event per key through per ``period_s`` and counts the ones it holds back.

    Thread-safe. Remembers at most ``max_keys`` keys (the oldest is forgotten first), so a
    stream of distinct keys cannot grow it without bound.
    """

    def __init__(
        self,
        period_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        self._period = period_s
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        # key -> (time of the last event let through, events held back since)
        self._state: dict[Hashable, tuple[float, int]] = {}

    def allow(self, key: Hashable) -> int | None:
        """None to hold this event back, else how many were held back since the last one."""
        now = self._clock()
        with self._lock:
            last = self._state.get(key)
            if last is not None and now - last[0] < self._period:
                self._state[key] = (last[0], last[1] + 1)
                return None
            self._state.pop(key, None)
            if len(self._state) >= self._max_keys:
                self._state.pop(next(iter(self._state)))
            self._state[key] = (now, 0)
            return last[1] if last is not None else 0

    def log(
        self,
        logger: logging.Logger,
        level: int,
        key: Hashable,
        message: str,
        *args: object,
        exc_info: BaseException | None = None,
    ) -> bool:
        """Log ``message`` unless one with this key was logged within the period."""
        held = self.allow(key)
        if held is None:
            return False
        if held:
            message += " (%d similar messages suppressed)"
            args = (*args, held)
        logger.log(level, message, *args, exc_info=exc_info)
        return True
