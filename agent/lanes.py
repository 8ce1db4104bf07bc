"""What the sender's two lanes hold: frames on their way, each lane's connections and the
round it has in flight, and the fresh lane's queue of the newest frames with the spool records
it claims.

A round (one frame offered to the collectors once) runs as a task of its own, so that
cancelling a lane (the agent stopping) does not abandon a request that is already on the wire:
the collector may have taken the frame, and sending it again on the way out would deliver it
twice. ``Lane.finish`` waits for that answer instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from hostvitals.agent.backoff import RoundFailed
from hostvitals.agent.config import DeliveryConfig
from hostvitals.agent.delivery import INGEST_PATH
from hostvitals.agent.http import Poster
from hostvitals.agent.spool import RecordId
from hostvitals.agent.tlsclient import client_context


@dataclass(slots=True)
class Pending:
    """A spooled frame on its way: where it is in the spool, its bytes and samples."""

    id: RecordId
    data: bytes
    sample_count: int
    body: tuple[str | None, bytes] | None = None
    """(Content-Encoding, body): compressed once, reused by retries with the same encoding."""
    on_its_way: bool = False  # a round with this frame is in flight
    settled: bool = False
    """The round that delivered it also acknowledged it in the spool (``Outbox.settle_now``)."""


class Lane:
    """What one lane owns: its connections to the collectors and its round in flight.

    One round at a time: the connections must not be used by two threads at once.
    """

    def __init__(self, name: str, config: DeliveryConfig) -> None:
        self.name = name
        self.poster = Poster(
            tuple(url.rstrip("/") + INGEST_PATH for url in config.collector_urls),
            config.request_timeout,
            tls=lambda: client_context(
                config.ca_file,
                config.client_cert,
                config.client_key,
                insecure_skip_verify=config.insecure_skip_verify,
            ),
        )
        self._round: tuple[Pending, asyncio.Future[None]] | None = None
        self._retired = False

    async def send(self, item: Pending, round_: Coroutine[Any, Any, None]) -> None:
        """Run ``round_``, which offers ``item`` to the collectors, and wait for it.

        Cancelling this wait leaves the round running; ``finish()`` takes its outcome.
        """
        task = asyncio.ensure_future(round_)
        self._round = (item, task)
        item.on_its_way = True
        task.add_done_callback(lambda _: self._ended(item, task))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Cut off from the round, which may even have ended in this very instant: its
            # outcome stays here for finish().
            raise
        except BaseException:
            self._seen(task)
            raise
        self._seen(task)

    def _seen(self, task: asyncio.Future[None]) -> None:
        """The caller has the round's outcome: it is no longer this lane's to report."""
        if self._round is not None and self._round[1] is task:
            self._round = None
        if self._retired:
            self.poster.close()

    def _ended(self, item: Pending, task: asyncio.Future[None]) -> None:
        item.on_its_way = False
        if not task.cancelled():
            task.exception()  # marks it retrieved: after a cancelled wait nobody else may
        if self._retired and (self._round is None or self._round[1] is task):
            self.poster.close()  # nothing is on the wire any more

    async def finish(self, timeout_s: float) -> tuple[Pending, bool] | None:
        """Wait up to ``timeout_s`` for the round the sender was cut off from (in flight, or
        ended without the sender seeing it): its frame and whether the collector took it
        (False also when it did not answer in time); None when there is no such round. The
        outcome is reported once.
        """
        if self._round is None:
            return None
        item, task = self._round
        with contextlib.suppress(RoundFailed, TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), max(timeout_s, 0.0))
        if task.done():
            self._seen(task)
        return item, task.done() and not task.cancelled() and task.exception() is None

    def retire(self) -> None:
        """The configuration changed: close the connections once the round in flight ended."""
        self._retired = True
        if self._round is None or self._round[1].done():
            self.poster.close()

    async def close(self) -> None:
        """Stop the round in flight, if any, and close the connections."""
        if self._round is not None:
            _, task = self._round
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.poster.close()


class FreshQueue:
    """The newest frames, oldest first, at most ``size``: when one more arrives, the oldest
    falls back to the backlog lane (the queue no longer claims its record; if a round with it
    is in flight, not before that round failed, so the two lanes never send it at once).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: deque[Pending] = deque()
        self._claimed: set[RecordId] = set()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Pending) -> bool:
        """Queue ``item``; True if the oldest fell back to the backlog lane to make room."""
        self._items.append(item)
        self._claimed.add(item.id)
        fell_back = False
        while len(self._items) > self._size:
            oldest = self._items.popleft()
            fell_back = True
            if not oldest.on_its_way:  # else the fresh lane lets it go when its round fails
                self._claimed.discard(oldest.id)
        return fell_back

    def head(self) -> Pending | None:
        return self._items[0] if self._items else None

    def holds(self, item: Pending) -> bool:
        """Whether ``item`` is still the fresh lane's to send (it did not fall back)."""
        return any(queued is item for queued in self._items)

    def release(self, item: Pending) -> None:
        """``item`` fell back while on its way and its round failed: the backlog lane takes
        it.
        """
        self._claimed.discard(item.id)

    def claims(self, record_id: RecordId) -> bool:
        """Whether the fresh lane will send this record (the backlog lane must not)."""
        return record_id in self._claimed

    def remove(self, item: Pending) -> None:
        """``item`` was delivered, or dropped by the spool."""
        if self._items and self._items[0] is item:
            self._items.popleft()
        self._claimed.discard(item.id)
