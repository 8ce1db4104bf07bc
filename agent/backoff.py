"""Retrying a failed round: how long to wait before the next attempt.

Exponential backoff with full jitter (tenacity's ``wait_random_exponential``): a random wait
in [0, initial · 2ⁿ], capped at ``max_s``. A round that failed with a Retry-After waits that
long instead, at least ``MIN_RETRY_AFTER_S`` (so a loop cannot spin) and at most
``retry_after_max_s``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_never,
    wait_random_exponential,
)

MIN_RETRY_AFTER_S = 0.1


class RoundFailed(Exception):
    """No collector took the frame this round; retry later."""

    def __init__(
        self, reason: str, retry_after_s: float | None = None, *, detail: str = ""
    ) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class Backoff:
    """The waits between the rounds of one frame; ``retrying()`` runs them with tenacity."""

    def __init__(self, initial_s: float, max_s: float, retry_after_max_s: float) -> None:
        self._initial_s = initial_s
        self._retry_after_max_s = retry_after_max_s
        self.reconfigure(max_s)

    def reconfigure(self, max_s: float) -> None:
        """A new cap; rounds already retrying wait with it from their next failure."""
        self._exponential = wait_random_exponential(multiplier=self._initial_s, max=max_s)

    def retrying(self, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
        """Attempts that retry on RoundFailed forever, sleeping with ``sleep``."""
        return AsyncRetrying(
            retry=retry_if_exception_type(RoundFailed),
            wait=self.wait,
            stop=stop_never,
            sleep=sleep,
            reraise=True,
        )

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RoundFailed) and exc.retry_after_s is not None:
            return min(max(exc.retry_after_s, MIN_RETRY_AFTER_S), self._retry_after_max_s)
        return float(self._exponential(state))
