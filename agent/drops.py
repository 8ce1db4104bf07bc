"""Which spooled samples the agent lost, by reason, and the spooled frames whose fate is
decided outside the spool.

The spool drops its oldest records to keep its bounds without knowing what the sender does
with them, so its own counters over-count: a record may be dropped while a round with it is in
flight, or after the collector took it but before the in-order acknowledgement reached it.
The ledger tracks exactly those records, by id and weight:

sending
    a round with the record is in flight. Dropped meanwhile, it is lost only if the round
    fails (a dropped frame is not sent again), and then under the bound that dropped it.
delivered
    the collector answered for it (took it, or rejected it: the sender counts those) and the
    spool has not been acknowledged past it yet. Dropped then, it is not lost.

Every other record the spool drops is lost when it goes. Entries leave when their round
fails, when the spool drops or acknowledges them; so the ledger never holds more than the
rounds in flight and the records pending in the spool.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from hostvitals.agent.spool import Dropped, RecordId


class Bound(enum.Enum):
    """Why the spool dropped a record."""

    FULL = "full"
    EXPIRED = "expired"


@dataclass(slots=True)
class _Entry:
    weight: int
    delivered: bool = False
    dropped: Bound | None = None
    """Dropped by the spool while its round was in flight."""


@dataclass(frozen=True, slots=True)
class Lost:
    """Samples lost so far, by reason."""

    full: int
    """Dropped because the spool was full."""
    expired: int
    """Dropped because they were older than the age bound."""


class DropLedger:
    """Thread-safe: the spool reports drops from worker threads, the sender calls from the
    event loop. Never calls the spool, so it may be called under the spool's lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, dict[int, _Entry]] = {}
        """segment -> offset -> entry"""
        self._lost = dict.fromkeys(Bound, 0)

    # -- the sender's side ----------------------------------------------------------------

    def sending(self, record_id: RecordId, weight: int) -> None:
        """A round with this record is about to start."""
        with self._lock:
            self._entries.setdefault(record_id.segment, {})[record_id.offset] = _Entry(weight)

    def sent(self, record_id: RecordId, delivered: bool) -> None:
        """The round with this record ended; ``delivered`` if the collector answered for it."""
        with self._lock:
            entry = self._find(record_id)
            if entry is None:
                return
            if delivered and entry.dropped is None:
                entry.delivered = True
                return
            self._remove(record_id)
            if not delivered and entry.dropped is not None:
                self._lost[entry.dropped] += entry.weight

    def delivered_run(self, record_ids: Iterable[RecordId]) -> RecordId | None:
        """The last of the leading ``record_ids`` that were delivered; None if the first was
        not.
        """
        last: RecordId | None = None
        with self._lock:
            for record_id in record_ids:
                entry = self._find(record_id)
                if entry is None or not entry.delivered:
                    break
                last = record_id
        return last

    def acknowledged(self, record_id: RecordId) -> None:
        """The spool was acknowledged up to and including ``record_id``."""
        with self._lock:
            for segment in [s for s in self._entries if s <= record_id.segment]:
                entries = self._entries[segment]
                for offset in [o for o, e in entries.items() if e.delivered]:
                    if RecordId(segment, offset) <= record_id:
                        del entries[offset]
                if not entries:
                    del self._entries[segment]

    # -- the spool's side -----------------------------------------------------------------

    def spool_dropped(self, dropped: Dropped) -> None:
        """The spool's ``on_drop``: count what of ``dropped`` is lost now."""
        bound = Bound.EXPIRED if dropped.expired else Bound.FULL
        spared = 0
        with self._lock:
            entries = self._entries.get(dropped.first.segment, {})
            for offset, entry in list(entries.items()):
                record_id = RecordId(dropped.first.segment, offset)
                if entry.dropped is not None or not dropped.covers(record_id):
                    continue
                spared += entry.weight
                if entry.delivered:
                    self._remove(record_id)
                else:
                    entry.dropped = bound
            self._lost[bound] += max(dropped.weight - spared, 0)

    def lost(self) -> Lost:
        with self._lock:
            return Lost(full=self._lost[Bound.FULL], expired=self._lost[Bound.EXPIRED])

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._entries.values())

    # -- internals (the lock is held) -----------------------------------------------------

    def _find(self, record_id: RecordId) -> _Entry | None:
        return self._entries.get(record_id.segment, {}).get(record_id.offset)

    def _remove(self, record_id: RecordId) -> None:
        entries = self._entries[record_id.segment]
        del entries[record_id.offset]
        if not entries:
            del self._entries[record_id.segment]
