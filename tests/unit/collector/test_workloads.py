"""A host's services and containers from the live view: rates, the newest scan only, order."""

from __future__ import annotations

from hostvitals.collector.live.current import CurrentStore, HostSnapshot
from hostvitals.collector.live.workloads import FIELDS, workloads
from hostvitals.shared.protocol import Frame, Series, Value

T0 = 1_700_000_000_000
NOW = T0 / 1000 + 60


def who(name: str, kind: str = "service", runtime: str = "systemd") -> dict[str, str]:
    return {"kind": kind, "runtime": runtime, "name": name}


def workload_series(name: str, cpu: list[Value], memory: Value, **kw: str) -> list[Series]:
    labels = who(name, **kw)
    ticks = len(cpu)
    return [
        Series("container_cpu_usage_seconds_total", labels, cpu),
        Series("container_memory_usage_bytes", labels, [memory] * ticks),
        Series("container_fs_writes_bytes_total", labels, [1000 * i for i in range(ticks)]),
        Series(
            "container_pressure_io_waiting_seconds_total", labels, [0.5 * i for i in range(ticks)]
        ),
    ]


def snapshot(*frames: tuple[list[Series], list[int]]) -> HostSnapshot:
    store = CurrentStore()
    for series, ticks in frames:
        store.update(Frame("agent-1", "web-1", 1, ticks[-1], 10.0, ticks, series), NOW)
    snap = store.host("web-1", NOW)
    assert snap is not None
    return snap


def test_rates_values_and_images_of_each_workload() -> None:
    ticks = [T0, T0 + 10_000]
    series = [
        *workload_series("nginx.service", [1.0, 6.0], 200),
        *workload_series("web", [0.0, 2.0], 900, kind="container", runtime="docker"),
        Series(
            "hostvitals_container_info",
            {"runtime": "docker", "name": "web", "image": "nginx:1.27", "id": "abc"},
            [1, 1],
        ),
    ]
    rows = workloads(snapshot((series, ticks)), limit=10)
    assert [r["name"] for r in rows] == ["nginx.service", "web"]  # busiest first
    nginx, web = rows
    assert set(FIELDS) <= nginx.keys()
    assert nginx["cpu_cores"] == 0.5  # 5 s of CPU over 10 s
    assert nginx["memory_bytes"] == 200
    assert nginx["write_bytes_per_second"] == 100.0
    assert nginx["io_waiting_ratio"] == 0.05
    assert nginx["working_set_bytes"] is None  # not reported: unknown, not zero
    assert nginx["image"] is None
    assert web["image"] == "nginx:1.27" and web["kind"] == "container"
    by_memory = workloads(snapshot((series, ticks)), limit=1, sort="memory_bytes")
    assert [r["name"] for r in by_memory] == ["web"]


def test_only_the_newest_scan_counts_and_other_comes_last() -> None:
    first = [T0, T0 + 10_000]
    second = [T0 + 20_000]
    rows = workloads(
        snapshot(
            (
                [
                    *workload_series("gone.service", [0.0, 50.0], 1),
                    *workload_series("db.service", [0.0, 1.0], 1),
                ],
                first,
            ),
            (
                [
                    *workload_series("db.service", [2.0], 1),
                    *workload_series("other", [100.0], 5, kind="other", runtime="mixed"),
                ],
                second,
            ),
        ),
        limit=10,
    )
    # gone.service left the sampler's top: its series are still in the live view, not shown.
    assert [r["name"] for r in rows] == ["db.service", "other"]
    assert rows[0]["cpu_cores"] == 0.1  # across frames: 1 s over 10 s
    assert rows[1]["cpu_cores"] is None  # one point: no rate yet


def test_a_host_without_cgroups_has_no_workloads() -> None:
    ticks = [T0, T0 + 10_000]
    snap = snapshot(([Series("node_load1", {}, [1.0, 1.0])], ticks))
    assert workloads(snap, limit=10) == []
