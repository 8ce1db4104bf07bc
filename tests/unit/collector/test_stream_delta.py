"""Fleet streams send the whole fleet first, then only the rows that changed, encoded once
for every stream; a stream that missed an update gets the whole fleet again."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from hostvitals.collector.api.stream import live_events, shared_updates


def parse(event: bytes) -> tuple[str, dict[str, Any]]:
    fields = dict(line.split(": ", 1) for line in event.decode().splitlines() if ": " in line)
    return fields["event"], orjson.loads(fields["data"])["data"]


class Fleet:
    def __init__(self) -> None:
        self.now = 1000.0
        self.rows = {f"web-{n}": {"host": f"web-{n}", "cpu": 0.0} for n in range(300)}

    async def compute(self, now: float) -> tuple[str, Any]:
        return "fleet", {"hosts": list(self.rows.values())}


async def test_a_stream_sends_the_fleet_then_the_changed_rows_and_the_hosts_gone() -> None:
    fleet = Fleet()
    shared = shared_updates(1.0, CollectorRegistry())

    async def sleep(seconds: float) -> None:
        fleet.now += seconds

    events = live_events(
        lambda now: shared.get(None, now, fleet.compute),
        interval_s=1.0,
        clock=lambda: fleet.now,
        sleep=sleep,
    )
    await anext(events)  # the retry line
    name, first = parse(await anext(events))
    assert name == "fleet" and len(first["hosts"]) == 300
    fleet.rows["web-7"] = {"host": "web-7", "cpu": 0.5}
    del fleet.rows["web-9"]
    fleet.rows["db-1"] = {"host": "db-1", "cpu": 0.25}
    raw = await anext(events)
    name, delta = parse(raw)
    assert name == "fleet-delta"
    assert delta == {
        "changed": [{"host": "web-7", "cpu": 0.5}, {"host": "db-1", "cpu": 0.25}],
        "removed": ["web-9"],
    }
    assert len(raw) < 200  # two rows, not 300
    await events.aclose()


async def test_a_stream_that_missed_an_update_gets_the_whole_fleet() -> None:
    fleet = Fleet()
    shared = shared_updates(1.0, CollectorRegistry())
    first = await shared.get(None, fleet.now, fleet.compute)
    fleet.rows["web-1"] = {"host": "web-1", "cpu": 1.0}
    second = await shared.get(None, fleet.now + 1, fleet.compute)
    fleet.rows["web-2"] = {"host": "web-2", "cpu": 1.0}
    third = await shared.get(None, fleet.now + 2, fleet.compute)
    assert parse(third.event_after(second.version)) == (
        "fleet-delta",
        {"changed": [{"host": "web-2", "cpu": 1.0}], "removed": []},
    )
    for sent in (first.version, -1):  # one tick behind, or just connected
        name, data = parse(third.event_after(sent))
        assert name == "fleet" and len(data["hosts"]) == 300
    # Every stream gets the same bytes: the events are encoded once per tick.
    assert third.event_after(second.version) is third.event_after(second.version)


async def test_an_unchanged_fleet_keeps_its_version_and_its_delta() -> None:
    fleet = Fleet()
    shared = shared_updates(1.0, CollectorRegistry())
    first = await shared.get(None, fleet.now, fleet.compute)
    fleet.rows["web-1"] = {"host": "web-1", "cpu": 1.0}
    second = await shared.get(None, fleet.now + 1, fleet.compute)
    again = await shared.get(None, fleet.now + 2, fleet.compute)
    assert again.version == second.version
    assert again.event_after(first.version) == second.event_after(first.version)
    assert orjson.loads(again.data) == orjson.loads(second.data)


async def test_rows_without_a_unique_host_are_sent_whole() -> None:
    shared = shared_updates(1.0, CollectorRegistry())
    rows: list[dict[str, Any]] = [{"host": "a"}, {"host": "a"}]

    async def compute(now: float) -> tuple[str, Any]:
        return "fleet", {"hosts": list(rows)}

    first = await shared.get(None, 10.0, compute)
    rows.append({"host": "b"})
    second = await shared.get(None, 11.0, compute)
    assert second.delta is None
    assert parse(second.event_after(first.version))[0] == "fleet"
    assert orjson.loads(second.data) == {"hosts": rows}
