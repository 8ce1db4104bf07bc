"""The fleet table: rows equal to those made from a full copy of each host, with each host's
series copied and summarised once per frame it sent, however often the fleet is asked for."""

from __future__ import annotations

from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.fleet import HOSTS_PER_SLICE, ROW_METRICS, FleetTable, fleet_row
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.turns import counting_turns

END_MS = 1_700_000_000_000
NOW = END_MS / 1000.0


def fed(hosts: list[str]) -> CurrentStore:
    store = CurrentStore()
    for host in hosts:
        store.update(catalogue_frame(host, ticks_ending_now(3, end_ms=END_MS)), NOW)
    return store


def fresh_rows(store: CurrentStore, now: float) -> list[dict[str, object]]:
    return [fleet_row(s) for s in store.hosts(now)]


def test_rows_are_those_of_a_full_copy_and_each_host_is_summarised_once_per_frame() -> None:
    store = fed(["a", "b", "c"])
    table = FleetTable(store)
    assert table.rows(NOW) == fresh_rows(store, NOW)
    assert table.computed == 3
    for _ in range(5):  # the fleet page polls; nobody sent anything
        assert table.rows(NOW + 1) == fresh_rows(store, NOW + 1)
    assert table.computed == 3
    later = catalogue_frame("b", ticks_ending_now(3, end_ms=END_MS + 3000), seq=1)
    store.update(later, NOW + 3)
    assert table.rows(NOW + 3) == fresh_rows(store, NOW + 3)
    assert table.computed == 4  # b only
    assert table.rows(NOW + 3, host="b") == [fleet_row(store.host("b", NOW + 3))]  # type: ignore[arg-type]
    assert table.computed == 4


def test_a_kept_row_still_shows_the_status_of_now() -> None:
    store = fed(["quiet"])
    table = FleetTable(store)
    assert [r["status"] for r in table.rows(NOW)] == ["up"]
    # 3 s flush period: stale after 3 periods without a frame, down after 10.
    assert [r["status"] for r in table.rows(NOW + 10)] == ["stale"]
    assert [r["status"] for r in table.rows(NOW + 31)] == ["down"]
    assert table.computed == 1


def test_hosts_gone_from_the_live_view_are_forgotten() -> None:
    store = CurrentStore(host_ttl_s=60.0)
    store.update(catalogue_frame("old", ticks_ending_now(3, end_ms=END_MS)), NOW)
    table = FleetTable(store)
    assert [r["host"] for r in table.rows(NOW)] == ["old"]
    store.update(catalogue_frame("new", ticks_ending_now(3, end_ms=END_MS + 120_000)), NOW + 120)
    assert [r["host"] for r in table.rows(NOW + 120)] == ["new"]
    assert table.rows(NOW + 120, host="old") == []


def test_a_row_is_made_from_the_series_it_reads_alone() -> None:
    """Only the row's own metrics are copied, and every number still comes out: a metric
    missing from ROW_METRICS would leave its number None here, unlike in the full copy."""
    store = fed(["a"])
    later = catalogue_frame("a", ticks_ending_now(3, end_ms=END_MS + 3000), seq=1)
    store.update(later, NOW + 3)  # rates need two frames' points
    row = FleetTable(store).rows(NOW + 3)[0]
    assert row == fresh_rows(store, NOW + 3)[0]
    full = fleet_row(store.host("a", NOW + 3))  # type: ignore[arg-type]
    for part in ("summary", "agent", "inventory"):
        known = {k for k, v in full[part].items() if v is not None}
        assert known and known == {k for k, v in row[part].items() if v is not None}, part
    copied = store.host("a", NOW + 3, metrics=ROW_METRICS)
    assert copied is not None and copied.processes is None
    assert {p.metric for p in copied.series} == ROW_METRICS & {
        p.metric
        for p in store.host("a", NOW + 3).series  # type: ignore[union-attr]
    }


async def test_rows_in_turns_equal_the_rows_and_give_the_loop_a_turn_per_slice() -> None:
    hosts = [f"h{n:03}" for n in range(3 * HOSTS_PER_SLICE + 5)]
    store = fed(hosts)
    async with counting_turns() as turns:
        before = turns.count
        table = FleetTable(store)
        rows = await table.rows_in_turns(NOW)
        during = turns.count - before
        assert rows == FleetTable(store).rows(NOW) == fresh_rows(store, NOW)
        assert during >= len(hosts) // HOSTS_PER_SLICE  # others ran between the slices
        before = turns.count
        assert await table.rows_in_turns(NOW + 1) == rows  # nothing to summarise again...
        assert turns.count == before  # ...so no turn given
