"""What an optional sampler (SMART, GPU) says about itself, as agent metrics and log lines.

Such a sampler depends on something the host may not have: a tool, a library, a device. When
it is missing the sampler says so once in the log and ``hostvitals_agent_sampler_unavailable``
``{sampler,reason}`` is 1 until it is found; devices left out by the sampler's limit are
``hostvitals_agent_sampler_capped{sampler}``, and failed reads of one device are counted in
``hostvitals_agent_device_read_errors_total{sampler,reason}``. The rows go out with the
agent's own metrics (``AgentSelfSampler`` takes ``rows`` as a source).

Thread-safe: a sampler may report from its own worker thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable

from hostvitals.agent.samplers.base import Row, labels

UNAVAILABLE = "hostvitals_agent_sampler_unavailable"
CAPPED = "hostvitals_agent_sampler_capped"
READ_ERRORS = "hostvitals_agent_device_read_errors_total"

MAX_REASONS = 16
"""Distinct error reasons one sampler counts apart; further ones add up under ``other``."""


class SamplerHealth:
    def __init__(self, sampler: str, logger: logging.Logger) -> None:
        self.sampler = sampler
        self._log = logger
        self._lock = threading.Lock()
        self._unavailable: str | None = None
        self._said_unavailable: str | None = None
        self._capped = 0
        self._errors: dict[str, int] = {}
        self._said: set[Hashable] = set()

    @property
    def unavailable_reason(self) -> str | None:
        with self._lock:
            return self._unavailable

    def unavailable(self, reason: str, message: str) -> None:
        """The sampler cannot run for ``reason``; ``message`` is logged once per reason."""
        with self._lock:
            self._unavailable = reason
            if self._said_unavailable == reason:
                return
            self._said_unavailable = reason
        self._log.warning("%s not reported: %s", self.sampler, message)

    def available(self) -> None:
        with self._lock:
            self._unavailable = None
            self._said_unavailable = None

    def capped(self, left_out: int, limit: int, what: str) -> None:
        """``left_out`` devices were not reported because at most ``limit`` are; said in the
        log when the number changes."""
        with self._lock:
            changed = left_out != self._capped
            self._capped = left_out
        if changed and left_out:
            self._log.warning("%d %s not reported: at most %d are", left_out, what, limit)

    def error(self, reason: str) -> None:
        """Count one failed read of a device."""
        with self._lock:
            if reason not in self._errors and len(self._errors) >= MAX_REASONS:
                reason = "other"
            self._errors[reason] = self._errors.get(reason, 0) + 1

    def say_once(self, key: Hashable, level: int, message: str, *args: object) -> None:
        """Log ``message`` the first time ``key`` is seen (until ``forget(key)``)."""
        with self._lock:
            if key in self._said:
                return
            self._said.add(key)
        self._log.log(level, message, *args)

    def forget(self, key: Hashable) -> None:
        """``key`` is well again: the next ``say_once`` with it logs."""
        with self._lock:
            self._said.discard(key)

    def rows(self) -> list[Row]:
        sampler = labels(sampler=self.sampler)
        with self._lock:
            rows: list[Row] = [(CAPPED, sampler, self._capped)]
            if self._unavailable is not None:
                why = labels(sampler=self.sampler, reason=self._unavailable)
                rows.append((UNAVAILABLE, why, 1))
            for reason, count in self._errors.items():
                rows.append((READ_ERRORS, labels(sampler=self.sampler, reason=reason), count))
        return rows
