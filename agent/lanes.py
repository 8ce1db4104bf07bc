"""What the sender's two lanes hold: frames on their way, each lane's connections, and the
fresh lane's queue of the newest frames with the spool records it claims.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hostvitals.agent.config import DeliveryConfig
from hostvitals.agent.delivery import INGEST_PATH
from hostvitals.agent.http import Poster
from hostvitals.agent.spool import RecordId


@dataclass(slots=True)
class Pending:
    """A spooled frame on its way: where it is in the spool, its bytes and samples."""

    id: RecordId
    data: bytes
    sample_count: int
    body: bytes | None = None  # compressed once, reused across retries


class Lane:
    """What one lane owns: its connections to the collectors."""

    def __init__(self, name: str, config: DeliveryConfig) -> None:
        self.name = name
        self.poster = Poster(
            tuple(url.rstrip("/") + INGEST_PATH for url in config.collector_urls),
            config.request_timeout,
        )

    def close(self) -> None:
        self.poster.close()


class FreshQueue:
    """The newest frames, oldest first, at most ``size``: when one more arrives, the oldest
    falls back to the backlog lane (the queue no longer claims its record).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: deque[Pending] = deque()
        self._claimed: set[RecordId] = set()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Pending) -> None:
        self._items.append(item)
        self._claimed.add(item.id)
        while len(self._items) > self._size:
            self._claimed.discard(self._items.popleft().id)

    def head(self) -> Pending | None:
        return self._items[0] if self._items else None

    def holds(self, item: Pending) -> bool:
        """Whether ``item`` is still the fresh lane's to send."""
        return item.id in self._claimed

    def claims(self, record_id: RecordId) -> bool:
        """Whether the fresh lane will send this record (the backlog lane must not)."""
        return record_id in self._claimed

    def remove(self, item: Pending) -> None:
        """``item`` was delivered, or dropped by the spool."""
        if self._items and self._items[0] is item:
            self._items.popleft()
        self._claimed.discard(item.id)

    def recompress(self) -> None:
        """The compression changed: bodies are made again on the next attempt."""
        for item in self._items:
            item.body = None
