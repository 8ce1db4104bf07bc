"""The values the spool hands out: fsync policy, record ids, records, drops and counters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FsyncPolicy(StrEnum):
    """When the spool asks the kernel to put its files on stable storage."""

    ALWAYS = "always"
    INTERVAL = "interval"
    NEVER = "never"


@dataclass(frozen=True, order=True, slots=True)
class RecordId:
    """Opaque position of a record; a record appended later compares greater."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    """One spooled record, as returned by peek()."""

    id: RecordId
    payload: bytes
    weight: int
    appended_at: float


@dataclass(frozen=True, slots=True)
class Dropped:
    """Intact records the spool just dropped to keep a bound, as reported to ``on_drop``.

    Either the one record at ``first``, or (``rest_of_segment``) every pending record of
    segment ``first.segment`` at or after ``first.offset``: a whole segment goes without its
    records being read.
    """

    first: RecordId
    rest_of_segment: bool
    records: int
    weight: int
    expired: bool
    """Dropped by the age bound, else by the size bound."""

    def covers(self, record_id: RecordId) -> bool:
        if record_id.segment != self.first.segment:
            return False
        if self.rest_of_segment:
            return record_id.offset >= self.first.offset
        return record_id.offset == self.first.offset


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """Counters of one open spool.

    ``pending_*`` describe what is on disk and not yet acknowledged (bytes include headers and
    any damaged bytes still waiting to be skipped). The other counters start at zero when the
    spool is opened: ``dropped_*`` count intact records removed by the size or age bound,
    ``expired_*`` the part of those removed by the age bound, ``corrupt_*`` count damaged
    spans skipped (one span may have held several records).
    """

    pending_records: int
    pending_bytes: int
    dropped_records: int
    dropped_weight: int
    corrupt_records: int
    corrupt_bytes: int
    expired_records: int = 0
    expired_weight: int = 0
