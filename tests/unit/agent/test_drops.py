"""The drop ledger: what the spool drops is lost unless a round delivered it, and the ledger
holds only rounds in flight and delivered records not yet acknowledged."""

from __future__ import annotations

from hostvitals.agent.drops import DropLedger, Lost
from hostvitals.agent.spool import Dropped, RecordId

A, B, C = RecordId(3, 0), RecordId(3, 100), RecordId(4, 0)


def one(record_id: RecordId, weight: int, *, expired: bool = False) -> Dropped:
    return Dropped(record_id, rest_of_segment=False, records=1, weight=weight, expired=expired)


def test_every_entry_leaves_once_its_fate_is_known() -> None:
    ledger = DropLedger()
    ledger.sending(A, 1)
    ledger.sent(A, delivered=False)  # failed, not dropped: back to the spool's care
    assert len(ledger) == 0
    ledger.sending(A, 1)
    ledger.sent(A, delivered=True)
    assert len(ledger) == 1  # delivered, waiting for the acknowledgement
    ledger.acknowledged(A)
    assert len(ledger) == 0
    ledger.sending(B, 2)
    ledger.spool_dropped(one(B, 2))
    ledger.sent(B, delivered=True)
    ledger.sending(C, 4)
    ledger.sent(C, delivered=True)
    ledger.spool_dropped(Dropped(RecordId(4, 0), True, 3, 4 + 8 + 16, expired=False))
    assert len(ledger) == 0
    assert ledger.lost() == Lost(full=8 + 16, expired=0)


def test_an_acknowledgement_past_a_dropped_round_in_flight_keeps_its_books() -> None:
    ledger = DropLedger()
    ledger.sending(B, 5)
    ledger.spool_dropped(one(B, 5, expired=True))
    ledger.acknowledged(C)  # the other lane delivered newer frames meanwhile
    ledger.sent(B, delivered=False)
    assert ledger.lost() == Lost(full=0, expired=5)
    assert len(ledger) == 0


def test_a_drop_covers_only_its_own_records() -> None:
    ledger = DropLedger()
    for record_id in (A, B, C):
        ledger.sending(record_id, 1)
        ledger.sent(record_id, delivered=True)
    ledger.spool_dropped(Dropped(B, rest_of_segment=True, records=2, weight=1 + 7, expired=False))
    assert ledger.lost() == Lost(full=7, expired=0)
    assert ledger.delivered_run([A, C]) == C  # A and C are still delivered, B is gone
    assert ledger.delivered_run([B, C]) is None
