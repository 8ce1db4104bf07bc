"""What the collector's answers say about how often to flush, and for how long it holds.

While someone watches this host, the collector answers each frame it took with
``Hostvitals-Flush-Interval: <seconds>`` (normally the sampling interval): the agent then
closes a frame that often instead of every ``flush_interval``, so the live view is about one
interval old. The newest answer decides: one without the header ends it at once, and so does
silence, after ``FLUSH_HINT_VALID_S`` without a newer answer. The value is bounded to
``[interval, flush_interval]``; one that is not a positive number is ignored (the answer then
asks for nothing), counted, and logged once.

The sender tells this object each answer; the agent asks it at every tick
(``hostvitals.agent.app``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.shared.protocol import FLUSH_HINT_VALID_S, FLUSH_INTERVAL_HEADER

log = logging.getLogger(__name__)


def parse_flush_interval(value: str) -> float | None:
    """Seconds from a ``Hostvitals-Flush-Interval`` value; None unless a positive number."""
    text = value.strip()
    if not text.isascii():
        return None
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class FlushHint:
    def __init__(
        self,
        *,
        valid_s: float = FLUSH_HINT_VALID_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._valid_s = valid_s
        self._clock = clock
        self._asked: float | None = None
        self._asked_at = -math.inf
        self._warned = False
        self.ignored = 0
        """Answers whose header was not a positive number."""

    def heard(self, value: str | None) -> None:
        """The collector took a frame and answered with this header value (None: absent)."""
        if value is None:
            self._asked = None
            return
        seconds = parse_flush_interval(value)
        if seconds is None:
            self._asked = None
            self.ignored += 1
            if not self._warned:
                self._warned = True
                log.warning(
                    "ignoring the collector's %s header %r: not a positive number of seconds "
                    "(counted in hostvitals_agent_flush_hints_ignored_total; not logged again)",
                    FLUSH_INTERVAL_HEADER,
                    value[:64],
                )
            return
        self._asked, self._asked_at = seconds, self._clock()

    def period(self, interval_s: float, flush_interval_s: float) -> float | None:
        """The flush period the collector asks for now, within ``[interval_s,
        flush_interval_s]``; None when it asks for nothing (or asked too long ago)."""
        if self._asked is None or self._clock() - self._asked_at > self._valid_s:
            return None
        return min(max(self._asked, interval_s), flush_interval_s)

    def rows(self) -> list[Row]:
        return [("hostvitals_agent_flush_hints_ignored_total", NO_LABELS, self.ignored)]
