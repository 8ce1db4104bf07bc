"""Token buckets by key: how many requests one credential or one address may make.

A :class:`RateLimiter` holds one bucket per key (a credential's id, an address), each filled
at ``rate_per_s`` up to ``burst`` tokens; a request takes one token, or is refused with the
seconds until a token is there (what ``Retry-After`` says). Keys are kept in least recently
used order and at most ``max_keys`` of them: a key pushed out starts again with a full
bucket, which only ever errs towards letting a request through.

Nothing here knows about HTTP: the request middleware (:mod:`.ratelimits`) and login
throttling use the same limiter with their own keys.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 100_000
_SLACK = 1e-9  # tokens: a client exactly at the rate is not refused for a rounding error


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """``acquire(key)`` is 0.0 when the request may go on, else the seconds to wait.

    ``rate_per_s`` 0 turns the limiter off (everything goes through). Thread-safe.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: float,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s >= 0):
            raise ValueError(f"rate must be a finite number >= 0, not {rate_per_s!r}")
        if not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, not {max_keys!r}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when taken, else the seconds until
        the bucket holds them (nothing is taken then)."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(self.burst, now)
                self._buckets[key] = bucket
                if len(self._buckets) > self._max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                elapsed = max(0.0, now - bucket.at)
                bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate_per_s)
                bucket.at = now
            if bucket.tokens + _SLACK >= cost:
                bucket.tokens = max(0.0, bucket.tokens - cost)
                return 0.0
            return (cost - bucket.tokens) / self.rate_per_s

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` in whole seconds, at least 1 (HTTP has no fractions)."""
    return str(max(1, math.ceil(wait_s)))
