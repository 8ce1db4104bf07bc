"""Recent writes kept for a re-send, and the watch that re-sends them after a restart."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry

from hostvitals.collector.selfmetrics import ResendMetrics
from hostvitals.collector.vm.recent import RecentWrites
from hostvitals.collector.vm.resend import RestartWatch
from tests.support.clock import ManualClock


class FakeVictoriaMetrics:
    """A start time that can change or be unreachable, and imports that can fail."""

    def __init__(self) -> None:
        self.started_at = 1000.0
        self.reachable = True
        self.status = 204
        self.posts: list[bytes] = []

    def start_time(self) -> float:
        if not self.reachable:
            raise ConnectionError("connection refused")
        return self.started_at

    def post_import(self, body: bytes) -> tuple[int, str]:
        if not self.reachable:
            raise ConnectionError("connection refused")
        self.posts.append(body)
        return self.status, "" if self.status < 300 else "busy"


def test_keeps_the_window_before_the_newest_write() -> None:
    clock = ManualClock(100.0)
    recent = RecentWrites(10.0, 1 << 20, clock=clock)
    for n in range(5):
        recent.add(f"line {n}\n".encode())
        clock.now += 4.0
    # Written at 100, 104, 108, 112, 116: within 10 s of the newest (116) are 108, 112, 116.
    assert recent.bodies() == [b"line 2\n", b"line 3\n", b"line 4\n"]
    # Time passing without writes (VictoriaMetrics down) keeps the seconds before the crash.
    clock.now += 3600
    assert len(recent) == 3
    assert recent.dropped_bytes == 0


def test_the_byte_bound_lets_the_oldest_go_early_and_counts_them() -> None:
    clock = ManualClock(100.0)
    body = os.urandom(10_000)  # incompressible: each entry takes about its length
    recent = RecentWrites(60.0, 3 * len(body), clock=clock)
    for _ in range(5):
        recent.add(body)
    assert 1 <= len(recent) <= 3
    assert recent.size <= 3 * len(body)
    assert recent.dropped_bytes > 0
    assert all(b == body for b in recent.bodies())


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        RecentWrites(0, 100)
    with pytest.raises(ValueError, match="at least 1"):
        RecentWrites(1, 0)


def watch(vm: FakeVictoriaMetrics, recent: RecentWrites) -> tuple[RestartWatch, CollectorRegistry]:
    registry = CollectorRegistry()
    return RestartWatch("raw", vm, recent, ResendMetrics(registry), 1.0), registry


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"target": "raw", **labels}) or 0.0


def test_a_new_start_time_sends_the_recent_writes_again() -> None:
    vm = FakeVictoriaMetrics()
    recent = RecentWrites(10.0, 1 << 20)
    w, registry = watch(vm, recent)
    w.check()  # learns the start time
    recent.add(b"a\n")
    recent.add(b"b\n")
    w.check()
    assert vm.posts == []  # nothing happened: nothing is sent twice
    vm.started_at = 2000.0
    w.check()
    assert vm.posts == [b"a\n", b"b\n"]
    assert sample(registry, "hostvitals_collector_vm_restarts_detected_total") == 1
    assert sample(registry, "hostvitals_collector_vm_resent_bytes_total") == 4
    assert sample(registry, "hostvitals_collector_vm_resend_window_bytes") == recent.size
    w.check()
    assert len(vm.posts) == 2


def test_coming_back_after_an_outage_sends_again_and_failures_are_retried() -> None:
    vm = FakeVictoriaMetrics()
    recent = RecentWrites(10.0, 1 << 20)
    w, registry = watch(vm, recent)
    w.check()
    recent.add(b"a\n")
    vm.reachable = False
    w.check()
    vm.reachable = True
    vm.status = 503  # back, but not taking writes yet
    w.check()
    assert sample(registry, "hostvitals_collector_vm_resends_total", result="error") == 1
    vm.status = 204
    w.check()  # the failed re-send is tried again
    assert vm.posts == [b"a\n", b"a\n"]
    assert sample(registry, "hostvitals_collector_vm_resends_total", result="ok") == 1
    assert sample(registry, "hostvitals_collector_vm_restarts_detected_total") == 0


def test_the_first_look_sends_nothing() -> None:
    vm = FakeVictoriaMetrics()
    recent = RecentWrites(10.0, 1 << 20)
    recent.add(b"a\n")
    w, _ = watch(vm, recent)
    vm.reachable = False
    w.check()
    vm.reachable = True
    w.check()
    assert vm.posts == []
