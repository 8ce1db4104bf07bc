"""Fleet page cost: CPU time per ``GET /api/v1/fleet`` answer for a big fleet, in process.

Fills a live view with ``--hosts`` hosts of ``--series`` series each (the ingest benchmark's
frames), then answers the fleet table ``--polls`` times as the fleet page asks for it (once a
second), a tenth of the hosts sending a frame between two polls (a frame every ten seconds
each), and encodes each answer as the API does. Printed: CPU time per answer made afresh from
a full copy of every host (how the collector answered before the fleet table), and from the
fleet table, which summarises only the hosts heard from since the previous poll.

    .venv/bin/python bench/fleet.py [--hosts 2000] [--series 150] [--polls 10]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson
from fleetload import TICKS, Fleet

from hostvitals.collector.live.current import CurrentStore
from hostvitals.collector.live.fleet import FleetTable, fleet_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--series", type=int, default=150)
    parser.add_argument("--polls", type=int, default=10)
    args = parser.parse_args()
    fleet = Fleet(args.hosts, args.series)
    store = CurrentStore()
    end_ms = int(time.time() * 1000)
    for agent in range(args.hosts):
        store.update(fleet.agent_frame(agent, TICKS, end_ms), end_ms / 1000)
    table = FleetTable(store)

    def fresh(now: float) -> bytes:
        return orjson.dumps([fleet_row(s) for s in store.hosts(now)])

    def tabled(now: float) -> bytes:
        return orjson.dumps(table.rows(now))

    tabled(end_ms / 1000)  # the first poll after a start summarises every host
    for name, answer in (("afresh from every host", fresh), ("fleet table", tabled)):
        cpu, size = polls(store, fleet, answer, args.polls, end_ms)
        print(
            f"{name}: {1000 * cpu:.1f} ms of CPU per answer ({args.hosts:,} hosts x "
            f"{args.series} series, {size / 1024:.0f} KB), a tenth of the fleet new each poll"
        )


def polls(
    store: CurrentStore, fleet: Fleet, answer: Callable[[float], bytes], count: int, end_ms: int
) -> tuple[float, int]:
    """Median CPU seconds of one answer, and its size; between two answers a tenth of the
    hosts sends its next frame (not counted)."""
    times, size = [], 0
    tenth = max(1, fleet.agents // 10)
    for n in range(count):
        end_ms += 1000
        for agent in range(n * tenth % fleet.agents, n * tenth % fleet.agents + tenth):
            store.update(fleet.agent_frame(agent % fleet.agents, TICKS, end_ms), end_ms / 1000)
        started = time.process_time()
        size = len(answer(end_ms / 1000))
        times.append(time.process_time() - started)
    return sorted(times)[len(times) // 2], size


if __name__ == "__main__":
    main()
