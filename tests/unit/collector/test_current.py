"""The live view: newest values, counter rates, replays, processes, bounds and host status."""

from __future__ import annotations

import pytest

from hostvitals.collector.live.current import CurrentStore, HostSnapshot, SeriesPoint
from hostvitals.shared.protocol import Frame, Series, Value

T0 = 1_700_000_000_000
NOW = T0 / 1000


def frame(
    series: list[Series],
    ticks: list[int],
    host: str = "web-1",
    agent: str = "agent-1",
    interval: float = 1.0,
) -> Frame:
    return Frame(agent, host, 1, ticks[-1], interval, ticks, series)


def point(snap: HostSnapshot | None, metric: str, **labels: str) -> SeriesPoint:
    assert snap is not None
    (found,) = [p for p in snap.series if p.metric == metric and p.labels == labels]
    return found


def counter(values: list[Value], device: str = "eth0") -> Series:
    return Series("node_network_receive_bytes_total", {"device": device}, values)


def test_newest_value_and_in_frame_rate() -> None:
    store = CurrentStore()
    store.update(
        frame(
            [Series("node_load1", {}, [0.5, 0.75, None]), counter([100, 300, 700])],
            [T0, T0 + 1000, T0 + 2000],
        ),
        NOW,
    )
    snap = store.host("web-1", NOW)
    load = point(snap, "node_load1")
    assert (load.value, load.timestamp_ms, load.rate) == (0.75, T0 + 1000, None)
    rx = point(snap, "node_network_receive_bytes_total", device="eth0")
    assert (rx.value, rx.timestamp_ms, rx.rate) == (700, T0 + 2000, 400.0)


def test_rate_across_frames_and_gaps() -> None:
    store = CurrentStore()
    store.update(frame([counter([100, None])], [T0, T0 + 1000]), NOW)
    assert (
        point(store.host("web-1", NOW), "node_network_receive_bytes_total", device="eth0").rate
        is None
    )
    store.update(frame([counter([None, 500])], [T0 + 3000, T0 + 4000]), NOW)
    rx = point(store.host("web-1", NOW), "node_network_receive_bytes_total", device="eth0")
    assert rx.rate == 100.0  # (500 - 100) / 4 s


def test_counter_reset_counts_from_zero() -> None:
    store = CurrentStore()
    store.update(frame([counter([1000, 50])], [T0, T0 + 2000]), NOW)
    assert (
        point(store.host("web-1", NOW), "node_network_receive_bytes_total", device="eth0").rate
        == 25.0
    )


def test_older_frames_do_not_overwrite_newer_values() -> None:
    store = CurrentStore()
    store.update(frame([Series("node_load1", {}, [2.0])], [T0 + 5000], interval=5.0), NOW + 5)
    store.update(frame([Series("node_load1", {}, [1.0])], [T0], interval=1.0), NOW + 6)
    snap = store.host("web-1", NOW + 6)
    assert snap is not None
    assert point(snap, "node_load1").value == 2.0
    assert snap.newest_ms == T0 + 5000
    assert snap.interval_s == 5.0  # the replayed frame's interval is not taken either
    assert snap.last_seen == NOW + 6  # but it was heard from


def test_replaying_the_same_frame_keeps_the_rate() -> None:
    store = CurrentStore()
    store.update(frame([counter([100])], [T0]), NOW)
    latest = frame([counter([300])], [T0 + 2000])
    store.update(latest, NOW)
    store.update(latest, NOW)
    assert (
        point(store.host("web-1", NOW), "node_network_receive_bytes_total", device="eth0").rate
        == 100.0
    )


def process(metric: str, pid: str, name: str, values: list[Value]) -> Series:
    return Series(metric, {"pid": pid, "name": name, "user": "root"}, values)


CPU = "hostvitals_process_cpu_usage_ratio"
RSS = "hostvitals_process_resident_memory_bytes"


def test_process_snapshot_is_the_newest_tick_that_has_processes() -> None:
    store = CurrentStore()
    ticks = [T0, T0 + 1000, T0 + 2000]
    store.update(
        frame(
            [
                process(CPU, "1", "init", [0.1, 0.2, None]),
                process(RSS, "1", "init", [10, 20, None]),
                process(CPU, "2", "old", [0.9, None, None]),
                process(RSS, "3", "memhog", [None, 999, None]),
                Series("node_load1", {}, [1, 1, 1]),
            ],
            ticks,
        ),
        NOW,
    )
    snap = store.host("web-1", NOW)
    assert snap is not None and snap.processes is not None
    assert snap.processes.timestamp_ms == T0 + 1000
    procs = {p.pid: p for p in snap.processes.processes}
    assert set(procs) == {1, 3}
    assert (procs[1].cpu_usage_ratio, procs[1].resident_memory_bytes) == (0.2, 20)
    assert (procs[3].cpu_usage_ratio, procs[3].resident_memory_bytes) == (None, 999)
    # Processes are not kept as individual series (they churn).
    assert {p.metric for p in snap.series} == {"node_load1"}

    # An older snapshot does not replace it; a newer one replaces it whole.
    store.update(frame([process(CPU, "9", "late", [0.5])], [T0]), NOW)
    snap = store.host("web-1", NOW)
    assert snap is not None and snap.processes is not None
    assert {p.pid for p in snap.processes.processes} == {1, 3}
    store.update(frame([process(CPU, "9", "new", [0.5])], [T0 + 9000]), NOW)
    snap = store.host("web-1", NOW)
    assert snap is not None and snap.processes is not None
    assert [p.name for p in snap.processes.processes] == ["new"]


def test_series_not_updated_for_the_ttl_are_dropped() -> None:
    store = CurrentStore(series_ttl_s=60)
    store.update(frame([counter([1], "veth1"), counter([1], "eth0")], [T0]), NOW)
    store.update(frame([counter([2], "eth0")], [T0 + 30_000]), NOW + 30)
    snap = store.host("web-1", NOW + 30)
    assert snap is not None and len(snap.series) == 2
    store.update(frame([counter([3], "eth0")], [T0 + 61_000]), NOW + 61)
    snap = store.host("web-1", NOW + 61)
    assert snap is not None
    assert [p.labels["device"] for p in snap.series] == ["eth0"]


def test_hosts_not_heard_from_are_evicted() -> None:
    store = CurrentStore(host_ttl_s=100)
    store.update(frame([Series("node_load1", {}, [1])], [T0], host="a"), NOW)
    store.update(frame([Series("node_load1", {}, [1])], [T0 + 90_000], host="b"), NOW + 90)
    assert store.host_names(NOW + 99) == ["a", "b"]
    assert store.host_names(NOW + 120) == ["b"]
    assert store.host("a", NOW + 120) is None
    assert [h.host for h in store.hosts(NOW + 120)] == ["b"]
    # Memory is released by the periodic sweep (at most a minute later).
    assert store.host_names(NOW + 170) == ["b"]
    assert len(store) == 1


@pytest.mark.parametrize(
    ("silent_s", "status"),
    [(0, "up"), (15, "up"), (15.1, "stale"), (50, "stale"), (50.1, "down")],
)
def test_status_counts_missed_flushes(silent_s: float, status: str) -> None:
    # Frames of 5 ticks 1 s apart: a flush every 4 s of span + 1 s interval = 5 s.
    store = CurrentStore(stale_after=3, down_after=10)
    ticks = [T0 + i * 1000 for i in range(5)]
    store.update(frame([Series("node_load1", {}, [1] * 5)], ticks), NOW)
    (snap,) = store.hosts(NOW + silent_s)
    assert snap.flush_period_s == 5.0
    assert snap.status == status


def test_agent_id_follows_the_newest_frame() -> None:
    store = CurrentStore()
    store.update(frame([Series("node_load1", {}, [1])], [T0], agent="old-agent"), NOW)
    store.update(frame([Series("node_load1", {}, [1])], [T0 + 1000], agent="new-agent"), NOW)
    (snap,) = store.hosts(NOW)
    assert snap.agent_id == "new-agent"


def test_a_status_listing_has_every_host_and_no_series() -> None:
    store = CurrentStore()
    for name, when in (("web-2", T0 + 2000), ("web-1", T0)):
        series = [Series("node_load1", {}, [1]), process(CPU, "1", "init", [0.1])]
        store.update(frame(series, [when], host=name), NOW + 1)
    full = store.hosts(NOW + 1)
    light = store.hosts(NOW + 1, series=False)
    assert [h.host for h in light] == [h.host for h in full] == ["web-1", "web-2"]
    for a, b in zip(light, full, strict=True):
        assert (a.last_seen, a.flush_period_s, a.newest_ms, a.status) == (
            b.last_seen,
            b.flush_period_s,
            b.newest_ms,
            b.status,
        )
        assert (a.series, a.processes) == ((), None)
        assert b.series and b.processes is not None


def test_labels_in_another_order_update_the_same_series() -> None:
    store = CurrentStore()
    cpu = "node_cpu_seconds_total"
    store.update(frame([Series(cpu, {"cpu": "0", "mode": "idle"}, [10])], [T0]), NOW)
    store.update(frame([Series(cpu, {"mode": "idle", "cpu": "0"}, [12])], [T0 + 1000]), NOW)
    snap = store.host("web-1", NOW)
    assert snap is not None
    assert len(snap.series) == 1
    idle = point(snap, cpu, cpu="0", mode="idle")
    assert (idle.value, idle.rate) == (12, 2.0)


def test_a_fleet_live_view_leaves_the_garbage_collector_little_to_follow() -> None:
    import gc

    store = CurrentStore()
    series = [counter([1, 2], device=f"veth{i}") for i in range(100)]
    gc.collect()
    before = len(gc.get_objects())
    for host in range(50):
        store.update(frame(series, [T0, T0 + 1000], host=f"web-{host}"), NOW)
    gc.collect()
    # 5,000 series: a few objects per host (its state, its index and columns), not one or
    # more per series.
    assert len(gc.get_objects()) - before < 10 * 50
    snap = store.host("web-7", NOW)
    assert snap is not None
    assert point(snap, "node_network_receive_bytes_total", device="veth3").rate == 1.0


def test_updating_known_series_allocates_nothing_the_collector_tracks() -> None:
    import gc

    store = CurrentStore()
    series = [counter([1, 2], device=f"veth{i}") for i in range(100)]
    store.update(frame(series, [T0, T0 + 1000]), NOW)
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects(generation=0))
        for n in range(1, 20):
            store.update(frame(series, [T0 + 2000 * n, T0 + 2000 * n + 1000]), NOW)
        # Nothing new for the collector to follow: a new object per update (even replacing
        # the old one, which keeps the allocation count still) would fill the young generation.
        assert len(gc.get_objects(generation=0)) - before < 10
    finally:
        gc.enable()
