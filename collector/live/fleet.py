"""The fleet view: one row per host with its status, headline numbers and agent health.

Rows come from the live view (memory), so they are cheap enough to compute once a second per
dashboard: a :class:`FleetTable` keeps each host's headline numbers and agent health until
the host's next frame, so a poll copies and summarises only the hosts heard from since the
last one (a host sends a frame every ten seconds unless watched). :func:`fleet_rows` adds the
peers' rows when there are peers. The sparklines of the
fleet page come from VictoriaMetrics through :func:`fleet_queries`: one expression per headline
number, every host at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from hostvitals.collector.live.cluster import Cluster, Row, newest_per_host
from hostvitals.collector.live.current import CurrentStore, HostSnapshot, SeriesPoint
from hostvitals.collector.live.forecast import Forecast
from hostvitals.collector.live.inventory import INVENTORY_METRICS, inventory
from hostvitals.collector.live.summary import SUMMARY_METRICS, summarise
from hostvitals.collector.query.queries import (
    DEFAULT_SAMPLE_INTERVAL_S,
    NamedQuery,
    cpu_usage_ratio,
    rate_window,
)
from hostvitals.collector.slices import run_in_turns, run_whole
from hostvitals.collector.vm.promql import selector
from hostvitals.shared.catalogue import HOST_LABEL

AGENT_GAUGES: Final = {
    "spool_bytes": "hostvitals_agent_spool_bytes",
    "spool_frames": "hostvitals_agent_spool_frames",
    "resident_memory_bytes": "hostvitals_agent_resident_memory_bytes",
}
AGENT_COUNTERS: Final = {
    "dropped_samples": "hostvitals_agent_dropped_samples_total",
    "send_errors": "hostvitals_agent_send_errors_total",
    "sampler_errors": "hostvitals_agent_sampler_errors_total",
}
AGENT_CPU: Final = "hostvitals_agent_cpu_seconds_total"
HOSTS_PER_SLICE: Final = 16
"""Hosts summarised between two turns of the event loop (about 2 ms of work)."""
AGENT_METRICS: Final = frozenset({*AGENT_GAUGES.values(), *AGENT_COUNTERS.values(), AGENT_CPU})
"""The series :func:`agent_health` reads."""
ROW_METRICS: Final = SUMMARY_METRICS | AGENT_METRICS | INVENTORY_METRICS
"""The series a fleet row is derived from: a host's other series (per CPU, per process, per
device) are not copied to make it."""


def agent_health(points: Iterable[SeriesPoint]) -> dict[str, float | None]:
    """The agent's own numbers: spool backlog, drops and errors (totals and rates per second).

    A number is ``None`` when the agent does not report it (or, for a rate, not yet).
    """
    by_metric: dict[str, list[SeriesPoint]] = {}
    for point in points:
        by_metric.setdefault(point.metric, []).append(point)
    out: dict[str, float | None] = {}
    for key, metric in AGENT_GAUGES.items():
        found = by_metric.get(metric)
        out[key] = float(sum(p.value for p in found)) if found else None
    for key, metric in AGENT_COUNTERS.items():
        found = by_metric.get(metric)
        out[f"{key}_total"] = float(sum(p.value for p in found)) if found else None
        rates = [p.rate for p in found or () if p.rate is not None]
        out[f"{key}_per_second"] = sum(rates) if rates else None
    cpu = [p.rate for p in by_metric.get(AGENT_CPU, ()) if p.rate is not None]
    out["cpu_usage_ratio"] = sum(cpu) if cpu else None
    return out


def host_row(snap: HostSnapshot) -> dict[str, Any]:
    """A host's identity and status, as ``/api/v1/hosts`` answers it."""
    return {
        "host": snap.host,
        "agent_id": snap.agent_id,
        "status": snap.status,
        "last_seen": snap.last_seen,
        "timestamp": snap.newest_ms / 1000.0,
        "interval_s": snap.interval_s,
        "flush_period_s": snap.flush_period_s,
    }


@dataclass(frozen=True, slots=True)
class RowContext:
    """What a fleet row needs besides the host's live state: this collector's version (an
    older agent is marked) and the disk forecasts (:mod:`.forecast`)."""

    collector_version: str = ""
    forecasts: Mapping[str, Forecast] = field(default_factory=lambda: MappingProxyType({}))


NO_CONTEXT: Final = RowContext()


def fleet_row(snap: HostSnapshot, context: RowContext = NO_CONTEXT) -> dict[str, Any]:
    """One host of the fleet table, as the API answers it: its host row, headline numbers,
    the agent's health, what the host is (``inventory``) and its disk ``forecast`` (None
    unless a filesystem is full within a day)."""
    return {
        **host_row(snap),
        "summary": summarise(snap.series),
        "agent": agent_health(snap.series),
        "inventory": inventory(snap.series, context.collector_version),
        "forecast": context.forecasts.get(snap.host),
    }


@dataclass(frozen=True, slots=True)
class _Derived:
    revision: int
    summary: dict[str, float | None]
    agent: dict[str, float | None]
    version: str  # the collector's, that ``inventory`` compared the agent's with
    inventory: dict[str, Any]


class FleetTable:
    """This replica's fleet rows from ``store``, each host's derived numbers kept until its
    next frame. Used from the event loop only."""

    def __init__(self, store: CurrentStore) -> None:
        self.store = store
        self._derived: dict[str, _Derived] = {}
        self.computed = 0
        """Hosts summarised from a full copy of their series so far (for tests)."""

    def rows(
        self, now: float, *, host: str | None = None, context: RowContext = NO_CONTEXT
    ) -> list[Row]:
        """Every live host's row, by name, as :func:`fleet_row` makes it; only ``host``'s
        when it is given."""
        rows: list[Row] = []
        run_whole(self._rows(now, host, context, rows))
        return rows

    async def rows_in_turns(
        self, now: float, *, host: str | None = None, context: RowContext = NO_CONTEXT
    ) -> list[Row]:
        """:meth:`rows`, giving the event loop a turn after every ``HOSTS_PER_SLICE`` hosts
        summarised: with hundreds of hosts sending, one tick's rows held the loop (and every
        ingest waiting on it) for tens of milliseconds."""
        rows: list[Row] = []
        await run_in_turns(self._rows(now, host, context, rows))
        return rows

    def _rows(
        self, now: float, host: str | None, context: RowContext, rows: list[Row]
    ) -> Iterator[None]:
        if host is None:
            found = self.store.hosts(now, series=False)
            # Hosts gone from the view are forgotten here too.
            for gone in self._derived.keys() - {s.host for s in found}:
                del self._derived[gone]
        else:
            one = self.store.host(host, now, metrics=ROW_METRICS)
            found = [one] if one is not None else []
        summarised = 0
        for snap in found:
            derived = self._derived.get(snap.host)
            version = context.collector_version
            if derived is None or derived.revision != snap.revision or derived.version != version:
                if summarised == HOSTS_PER_SLICE:
                    summarised = 0
                    yield
                summarised += 1
                full = (
                    self.store.host(snap.host, now, metrics=ROW_METRICS) if host is None else snap
                )
                if full is None:  # evicted in between
                    continue
                derived = _Derived(
                    full.revision,
                    summarise(full.series),
                    agent_health(full.series),
                    version,
                    inventory(full.series, version),
                )
                self._derived[snap.host] = derived
                self.computed += 1
            rows.append(
                {
                    **host_row(snap),
                    "summary": derived.summary,
                    "agent": derived.agent,
                    "inventory": derived.inventory,
                    "forecast": context.forecasts.get(snap.host),
                }
            )


async def fleet_rows(
    table: FleetTable,
    cluster: Cluster | None,
    now: float,
    *,
    host: str | None = None,
    context: RowContext = NO_CONTEXT,
) -> list[Row]:
    """The fleet table: this replica's hosts, and its peers' when there are peers; only
    ``host``'s row when it is given."""
    rows = await table.rows_in_turns(now, host=host, context=context)
    if cluster is None or not cluster.enabled:
        return rows
    answers = await cluster.gather("/api/v1/fleet", {"host": host} if host is not None else None)
    theirs = [data.get("hosts", []) for data in answers if isinstance(data, dict)]
    if host is not None:  # a peer of an older version answers every host
        theirs = [
            [r for r in group if isinstance(r, dict) and r.get("host") == host]
            for group in theirs
            if isinstance(group, list)
        ]
    return newest_per_host([rows, *theirs])


def fleet_queries(
    step: float, sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S
) -> tuple[NamedQuery, ...]:
    """Per-host headline numbers over time, for every host (sparklines)."""
    w = rate_window(step, sample_interval_s)
    size = selector("node_filesystem_size_bytes", None)
    free = selector("node_filesystem_free_bytes", None)
    avail = selector("node_filesystem_avail_bytes", None)
    used = f"({size} - {free})"
    network = '{__name__=~"node_network_(receive|transmit)_bytes_total"}'
    return (
        # A share of all CPU time, as the host page and the live summary compute it.
        NamedQuery("cpu_usage_ratio", cpu_usage_ratio(None, w)),
        NamedQuery(
            "memory_used_ratio",
            "1 - node_memory_MemAvailable_bytes / (node_memory_MemTotal_bytes > 0)",
        ),
        # As df counts it, like the live summary: used / (used + available to users).
        NamedQuery(
            "filesystem_max_used_ratio",
            f"max by ({HOST_LABEL}) ({used} / (({used} + {avail}) > 0))",
        ),
        NamedQuery(
            "network_bytes_per_second",
            f"sum by ({HOST_LABEL}) (rate({network}[{w}]))",
        ),
    )


def top_processes(snap: HostSnapshot, limit: int) -> list[dict[str, Any]]:
    """The newest top-process snapshot of a host, busiest first (as the processes API)."""
    if snap.processes is None:
        return []
    ranked = sorted(
        snap.processes.processes,
        key=lambda p: (-(p.cpu_usage_ratio if p.cpu_usage_ratio is not None else -1.0), str(p.pid)),
    )
    return [
        {
            "pid": p.pid,
            "name": p.name,
            "user": p.user,
            "cpu_usage_ratio": p.cpu_usage_ratio,
            "resident_memory_bytes": p.resident_memory_bytes,
        }
        for p in ranked[:limit]
    ]
