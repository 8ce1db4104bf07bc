"""The live view: per host, the newest value of every series, counter rates, top processes.

Updated after each frame is written. Rates of counters come from the two newest points of a
series, within a frame or across frames. A frame older than what is stored (a replay, a
frame retried after newer ones went through) never overwrites a newer value.

Bounded: series not updated for ``series_ttl_s`` (relative to the host's newest tick) are
dropped, processes are kept only as the newest snapshot, and hosts not heard from for
``host_ttl_s`` (wall time) are evicted.

Compact: each host's series are a :class:`~hostvitals.collector.live.columns.SeriesTable`,
columns the garbage collector hardly has to look at however large the fleet.

Host status: a host flushes a frame every ``flush_period_s`` = the span of its last frame's
ticks plus its interval (at least the interval; frames of a host asked to flush every tick
keep the period of its usual frames). It is ``stale`` when nothing arrived for
more than ``stale_after`` flush periods, ``down`` after ``down_after`` periods, ``up`` before.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from hostvitals.collector.live.columns import SeriesTable, last_two
from hostvitals.shared.protocol import Frame, Series, SeriesKey, series_key

PROCESS_CPU: Final = "hostvitals_process_cpu_usage_ratio"
PROCESS_MEMORY: Final = "hostvitals_process_resident_memory_bytes"
PROCESS_METRICS: Final = frozenset({PROCESS_CPU, PROCESS_MEMORY})
_SWEEP_EVERY_S: Final = 60.0

HostStatus = Literal["up", "stale", "down"]


@dataclass(slots=True)
class SeriesPoint:
    """The newest sample of one series, and its rate per second when it is a counter."""

    metric: str
    labels: dict[str, str]
    timestamp_ms: int
    value: float | int
    rate: float | None


@dataclass(frozen=True, slots=True)
class ProcessEntry:
    pid: int | str
    name: str
    user: str
    cpu_usage_ratio: float | None
    resident_memory_bytes: float | int | None


@dataclass(frozen=True, slots=True)
class ProcessSnapshot:
    timestamp_ms: int
    processes: tuple[ProcessEntry, ...]


@dataclass(slots=True)
class _Host:
    host: str
    agent_id: str
    last_seen: float
    interval_s: float
    flush_period_s: float
    newest_ms: int
    series: SeriesTable = field(default_factory=SeriesTable)
    processes: ProcessSnapshot | None = None
    next_prune_ms: int = 0
    revision: int = 0  # frames folded; the host's series and processes change only with it


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """A copy of one host's live state, safe to read while frames keep arriving."""

    host: str
    agent_id: str
    last_seen: float
    interval_s: float
    flush_period_s: float
    newest_ms: int
    status: HostStatus
    series: tuple[SeriesPoint, ...]
    processes: ProcessSnapshot | None
    revision: int = 0
    """Grows with every frame folded for this host: whatever is derived from its series and
    processes at one revision stays true until the next."""


class CurrentStore:
    def __init__(
        self,
        *,
        host_ttl_s: float = 86_400.0,
        series_ttl_s: float = 900.0,
        stale_after: float = 3.0,
        down_after: float = 10.0,
    ) -> None:
        self._host_ttl = host_ttl_s
        self._series_ttl_ms = int(series_ttl_s * 1000)
        self._stale_after = stale_after
        self._down_after = down_after
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        self._version = 0

    def __len__(self) -> int:
        return len(self._hosts)

    @property
    def version(self) -> int:
        """Grows with every folded frame: a view built at one version stays true until the
        next (apart from series and hosts expiring, which takes minutes)."""
        return self._version

    def update(
        self,
        frame: Frame,
        received_at: float,
        keys: Sequence[SeriesKey] | None = None,
        *,
        keep_period: bool = False,
    ) -> None:
        """Fold a written frame into the live view; ``received_at`` is wall-clock seconds.
        ``keys`` are the frame's series keys when the caller has them already.

        ``keep_period``: the frame is short because its agent was asked to flush every tick
        (someone watches the host); it does not shorten the host's flush period, so the
        host does not turn stale when its agent returns to its usual frames.
        """
        timestamps = frame.timestamps_ms
        span_s = (timestamps[-1] - timestamps[0]) / 1000.0
        with self._lock:
            self._version += 1
            self._sweep(received_at)
            state = self._hosts.get(frame.host)
            if state is None:
                state = self._hosts[frame.host] = _Host(
                    host=frame.host,
                    agent_id=frame.agent_id,
                    last_seen=received_at,
                    interval_s=frame.interval_s,
                    flush_period_s=span_s + frame.interval_s,
                    newest_ms=timestamps[-1],
                )
            state.last_seen = max(state.last_seen, received_at)
            state.revision += 1
            if timestamps[-1] >= state.newest_ms:
                state.agent_id = frame.agent_id
                state.interval_s = frame.interval_s
                period = span_s + frame.interval_s
                if not keep_period or period > state.flush_period_s:
                    state.flush_period_s = period
                state.newest_ms = timestamps[-1]
            process_series: list[Series] = []
            stored = state.series
            for i, series in enumerate(frame.series):
                if series.metric in PROCESS_METRICS:
                    process_series.append(series)
                    continue
                key = keys[i] if keys is not None else series_key(series.metric, series.labels)
                stored.fold(key, series.metric, series.values, timestamps)
            if process_series:
                _fold_processes(state, process_series, timestamps)
            if state.newest_ms >= state.next_prune_ms:
                _prune(state, self._series_ttl_ms)

    def hosts(self, now: float, *, series: bool = True) -> list[HostSnapshot]:
        """Every live host, by name. ``series=False`` leaves out series and processes: what
        a status check needs, at a tiny fraction of the cost for a fleet (copying every
        series of thousands of hosts takes long enough to stall the event loop)."""
        with self._lock:
            self._sweep(now)
            return [
                self._snapshot(h, now, series=series)
                for _, h in sorted(self._hosts.items())
                if self._alive(h, now)
            ]

    def host(
        self, name: str, now: float, *, metrics: Collection[str] | None = None
    ) -> HostSnapshot | None:
        """One live host; with ``metrics``, only those metrics' series (and processes only
        when they are among them)."""
        with self._lock:
            self._sweep(now)
            state = self._hosts.get(name)
            if state is None or not self._alive(state, now):
                return None
            return self._snapshot(state, now, metrics=metrics)

    def host_names(self, now: float) -> list[str]:
        with self._lock:
            self._sweep(now)
            return sorted(name for name, h in self._hosts.items() if self._alive(h, now))

    def _alive(self, state: _Host, now: float) -> bool:
        # Sweeps run once a minute; reads hide expired hosts in between.
        return state.last_seen >= now - self._host_ttl

    def status(self, last_seen: float, flush_period_s: float, now: float) -> HostStatus:
        silent = now - last_seen
        if silent > self._down_after * flush_period_s:
            return "down"
        if silent > self._stale_after * flush_period_s:
            return "stale"
        return "up"

    def _snapshot(
        self,
        state: _Host,
        now: float,
        *,
        series: bool = True,
        metrics: Collection[str] | None = None,
    ) -> HostSnapshot:
        rows = state.series.rows(metrics) if series else ()
        points = tuple(SeriesPoint(*row) for row in rows)
        processes = state.processes if series else None
        if metrics is not None and PROCESS_METRICS.isdisjoint(metrics):
            processes = None
        return HostSnapshot(
            host=state.host,
            agent_id=state.agent_id,
            last_seen=state.last_seen,
            interval_s=state.interval_s,
            flush_period_s=state.flush_period_s,
            newest_ms=state.newest_ms,
            status=self.status(state.last_seen, state.flush_period_s, now),
            series=points,
            processes=processes,
            revision=state.revision,
        )

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(_SWEEP_EVERY_S, self._host_ttl)
        cutoff = now - self._host_ttl
        for name in [n for n, h in self._hosts.items() if h.last_seen < cutoff]:
            del self._hosts[name]


def _fold_processes(state: _Host, items: list[Series], timestamps: list[int]) -> None:
    tick = -1
    for s in items:
        newest, _ = last_two(s.values)
        tick = max(tick, newest)
    if tick < 0:
        return
    ts = timestamps[tick]
    if state.processes is not None and state.processes.timestamp_ms >= ts:
        return
    entries: dict[tuple[str, str, str], dict[str, float | int | None]] = {}
    for s in items:
        value = s.values[tick]
        if value is None:
            continue
        ident = (s.labels.get("pid", ""), s.labels.get("name", ""), s.labels.get("user", ""))
        entries.setdefault(ident, {})[s.metric] = value
    processes = tuple(
        ProcessEntry(
            pid=_pid(pid),
            name=name,
            user=user,
            cpu_usage_ratio=_float_or_none(found.get(PROCESS_CPU)),
            resident_memory_bytes=found.get(PROCESS_MEMORY),
        )
        for (pid, name, user), found in entries.items()
    )
    state.processes = ProcessSnapshot(ts, processes)


def _pid(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _float_or_none(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _prune(state: _Host, ttl_ms: int) -> None:
    state.series.prune(state.newest_ms - ttl_ms)
    # Pruning walks every series; once per tenth of the TTL is plenty.
    state.next_prune_ms = state.newest_ms + max(1, ttl_ms // 10)
