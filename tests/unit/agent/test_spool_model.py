"""The spool against a plain in-memory model: random appends, peeks, acks, clock steps, reopens
and simulated crashes must leave both agreeing on content, order, every counter and the drops
reported."""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hostvitals.agent.spool import Dropped, FsyncPolicy, RecordId, Spool
from hostvitals.agent.spool.format import HEADER_SIZE
from tests.support.clock import ManualClock

MAX_BYTES = 600
MAX_AGE_S = 50.0
SEGMENT_BYTES = 150


@dataclass(frozen=True)
class Item:
    uid: int
    payload: bytes
    weight: int
    appended_at: float
    id: RecordId


class SpoolModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="spool-model-"))
        self.generation = 0
        self.clock = ManualClock()
        self.reports: list[Dropped] = []
        self.dropped_ids: list[RecordId] = []
        self.acked_ids: list[RecordId] = []
        self.spool = self._open(self.root / "0")
        self.items: deque[Item] = deque()
        self.next_uid = 0
        self.dropped_records = 0
        self.dropped_weight = 0
        self.peeked: list[tuple[RecordId, int]] = []

    def _open(self, directory: Path) -> Spool:
        return Spool(
            directory,
            max_bytes=MAX_BYTES,
            max_age_s=MAX_AGE_S,
            segment_bytes=SEGMENT_BYTES,
            fsync=FsyncPolicy.NEVER,
            clock=self.clock,
            on_drop=self.reports.append,
        )

    def _pending_bytes(self) -> int:
        return sum(HEADER_SIZE + len(item.payload) for item in self.items)

    def _drop_head(self) -> None:
        item = self.items.popleft()
        self.dropped_ids.append(item.id)
        self.dropped_records += 1
        self.dropped_weight += item.weight

    def _expire(self) -> None:
        while self.items and self.clock.now - self.items[0].appended_at > MAX_AGE_S:
            self._drop_head()

    @rule(size=st.integers(min_value=0, max_value=120), weight=st.integers(0, 2**32 - 1))
    def append(self, size: int, weight: int) -> None:
        uid = self.next_uid
        self.next_uid += 1
        data = (uid.to_bytes(4, "big") * (size // 4 + 1))[:size]
        record_id = self.spool.append(data, weight=weight)
        self._expire()
        while self._pending_bytes() + HEADER_SIZE + size > MAX_BYTES:
            self._drop_head()
        self.items.append(Item(uid, data, weight, self.clock.now, record_id))

    @rule(seconds=st.floats(min_value=0, max_value=30))
    def advance_clock(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule(
        max_records=st.integers(min_value=1, max_value=12),
        max_bytes=st.none() | st.integers(min_value=1, max_value=400),
    )
    def peek(self, max_records: int, max_bytes: int | None) -> None:
        records = self.spool.peek(max_records, max_bytes)
        self._expire()
        expected: list[Item] = []
        total = 0
        for item in self.items:
            if len(expected) == max_records:
                break
            if max_bytes is not None and expected and total + len(item.payload) > max_bytes:
                break
            expected.append(item)
            total += len(item.payload)
        assert [(r.payload, r.weight, r.appended_at) for r in records] == [
            (i.payload, i.weight, i.appended_at) for i in expected
        ]
        assert [r.id for r in records] == sorted(r.id for r in records)
        self.peeked = [(r.id, i.uid) for r, i in zip(records, expected, strict=True)]

    @precondition(lambda self: bool(self.peeked))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        record_id, uid = data.draw(st.sampled_from(self.peeked))
        self.spool.ack(record_id)
        while self.items and self.items[0].uid <= uid:
            self.acked_ids.append(self.items.popleft().id)

    @rule()
    def reopen(self) -> None:
        directory = self.root / str(self.generation)
        self.spool.close()
        self._forget_drops()
        self.spool = self._open(directory)

    @rule()
    def crash(self) -> None:
        """Reopen a copy taken while the spool was still open, as kill -9 would leave it."""
        source = self.root / str(self.generation)
        self.generation += 1
        target = self.root / str(self.generation)
        shutil.copytree(source, target)
        self.spool.close()
        self._forget_drops()
        self.spool = self._open(target)

    def _forget_drops(self) -> None:
        """A reopened spool counts from zero."""
        self.dropped_records = self.dropped_weight = 0
        self.reports.clear()
        self.dropped_ids.clear()
        self.acked_ids.clear()

    @invariant()
    def counters_agree(self) -> None:
        stats = self.spool.stats()
        self._expire()
        assert stats.pending_records == len(self.items)
        assert stats.pending_bytes == self._pending_bytes()
        assert stats.pending_bytes <= MAX_BYTES
        assert (stats.dropped_records, stats.dropped_weight) == (
            self.dropped_records,
            self.dropped_weight,
        )
        assert (stats.corrupt_records, stats.corrupt_bytes) == (0, 0)

    @invariant()
    def drops_are_reported_once_each(self) -> None:
        self.spool.stats()
        self._expire()
        assert sum(r.records for r in self.reports) == self.dropped_records
        assert sum(r.weight for r in self.reports) == self.dropped_weight
        for record_id in self.dropped_ids:
            assert sum(r.covers(record_id) for r in self.reports) == 1, record_id
        kept = [i.id for i in self.items] + self.acked_ids
        assert not [i for i in kept if any(r.covers(i) for r in self.reports)]

    def teardown(self) -> None:
        self.spool.close()
        shutil.rmtree(self.root, ignore_errors=True)


SpoolModel.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_spool_matches_model = SpoolModel.TestCase
