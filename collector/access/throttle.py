"""Guessing throttles: failed logins per source address and per user name, and unknown
credentials per source address, answered with 429 and ``Retry-After`` once there are too many.

A key (``address:…``, ``user:…``, ``credential:…``) may fail ``limit`` times; then it is
refused for ``base_s``, and each further failure doubles the wait, up to ``max_s``.
A key that has not failed for ``forget_s`` starts again from nothing, and a success clears
it. The table is bounded: past ``size`` keys the one that failed longest ago is forgotten
(counted), so a flood of addresses costs memory once and no more.

The throttle never sees a valid credential: callers check a secret first and record only a
failure, so a valid agent behind a busy NAT is never refused. Only logins are refused before
their password is checked (an argon2 hash is the expensive part a guesser wants).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

SCOPES: Final = ("address", "user", "credential")
_KEY_MAX: Final = 256  # a user name longer than this is throttled under its first 256 chars


@dataclass(slots=True)
class _Entry:
    failures: int
    last: float
    until: float


def key(scope: str, value: str) -> str:
    return f"{scope}:{value[:_KEY_MAX]}"


class Throttle:
    def __init__(
        self,
        *,
        limit: int,
        base_s: float,
        max_s: float,
        forget_s: float,
        size: int,
        clock: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.limit = limit
        self.base_s = base_s
        self.max_s = max_s
        self.forget_s = max(forget_s, max_s)
        self.size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._table: OrderedDict[str, _Entry] = OrderedDict()
        self.refused = Counter(
            "hostvitals_collector_auth_throttled",
            "Requests answered 429 by a guessing throttle, by what was throttled: a source "
            "address or a user name (logins), or a source address (unknown credentials).",
            ("scope",),
            registry=registry,
        )
        for scope in SCOPES:
            self.refused.labels(scope)
        self.evicted = Counter(
            "hostvitals_collector_auth_throttle_evicted",
            "Keys the guessing throttle forgot early because its table was full.",
            registry=registry,
        )
        self.entries = Gauge(
            "hostvitals_collector_auth_throttle_entries",
            "Keys (addresses, user names) the guessing throttle remembers failures of.",
            registry=registry,
        )
        self.entries.set_function(lambda: len(self._table))

    def retry_after(self, name: str) -> int | None:
        """Whole seconds until ``name`` may try again; None when it may now."""
        now = self._clock()
        with self._lock:
            entry = self._table.get(name)
            if entry is None:
                return None
            if now - entry.last >= self.forget_s:
                del self._table[name]
                return None
            if entry.until <= now:
                return None
            return max(1, int(entry.until - now + 0.999))

    def refuse(self, name: str) -> int | None:
        """Like :meth:`retry_after`, and counts a refusal under the key's scope."""
        wait = self.retry_after(name)
        if wait is not None:
            self.refused.labels(name.partition(":")[0]).inc()
        return wait

    def failed(self, name: str) -> None:
        now = self._clock()
        with self._lock:
            entry = self._table.pop(name, None)
            if entry is None or now - entry.last >= self.forget_s:
                entry = _Entry(0, now, now)
            entry.failures += 1
            entry.last = now
            over = entry.failures - self.limit
            if over >= 0:
                entry.until = now + min(self.max_s, self.base_s * 2 ** min(over, 32))
            self._table[name] = entry
            while len(self._table) > self.size:
                self._table.popitem(last=False)
                self.evicted.inc()

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._table.pop(name, None)

    def __len__(self) -> int:
        return len(self._table)
