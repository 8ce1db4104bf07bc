"""A yes-or-no answer from the state database kept for a second: every request's open-mode
check asks whether any user or enrollment token exists, and a query each time made the event
loop give up the interpreter lock. A change made through the CLI (another process) shows
within the second; one made by this process is seen at once (:meth:`KeptAnswer.forget`)."""

from __future__ import annotations

import time
from collections.abc import Callable

KEEP_S = 1.0


class KeptAnswer:
    def __init__(
        self, ask: Callable[[], bool], *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._ask = ask
        self._monotonic = monotonic
        self._checked: float | None = None
        self._found = False

    def __call__(self) -> bool:
        now = self._monotonic()
        if self._checked is None or now - self._checked >= KEEP_S:
            self._found = self._ask()
            self._checked = now
        return self._found

    def forget(self) -> None:
        """Ask afresh next time."""
        self._checked = None
