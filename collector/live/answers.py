"""Encoded ``/api/v1/metrics/current`` answers, kept while the live view has not changed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CurrentCache:
    """Encoded ``/current`` answers, reused until the live view changes or ``max_age_s`` passes.

    Dashboards poll ``/current`` far more often than frames arrive; encoding every series of a
    host for each poll was most of the endpoint's cost. The age bound keeps expiry of old
    series and hosts visible within a second. Bounded: cleared when it holds too many hosts.
    """

    max_age_s: float = 1.0
    max_entries: int = 1024
    _entries: dict[str | None, tuple[int, float, bytes]] = field(default_factory=dict)

    def get(self, host: str | None, version: int, now: float) -> bytes | None:
        entry = self._entries.get(host)
        if entry is None or entry[0] != version or now - entry[1] > self.max_age_s:
            return None
        return entry[2]

    def put(self, host: str | None, version: int, now: float, body: bytes) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[host] = (version, now, body)
