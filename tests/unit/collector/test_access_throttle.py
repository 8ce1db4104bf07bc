"""The guessing throttle: free tries, a doubling wait with a cap, forgetting, and a bounded
table. Time is a fake clock, so nothing here waits."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from hostvitals.collector.access.throttle import Throttle, key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, size: int = 100) -> tuple[Throttle, CollectorRegistry]:
    registry = CollectorRegistry()
    made = Throttle(
        limit=3, base_s=10, max_s=60, forget_s=300, size=size, clock=clock, registry=registry
    )
    return made, registry


def test_free_tries_then_a_doubling_wait_up_to_the_cap() -> None:
    clock = Clock()
    t, _ = throttle(clock)
    name = key("address", "192.0.2.1")
    for _ in range(3):
        assert t.retry_after(name) is None
        t.failed(name)
    assert t.retry_after(name) == 10  # three failures, then a wait
    t.failed(name)
    assert t.retry_after(name) == 20
    t.failed(name)
    assert t.retry_after(name) == 40
    t.failed(name)
    assert t.retry_after(name) == 60  # capped
    clock.now += 60
    assert t.retry_after(name) is None  # the wait is over; the next failure waits again
    t.failed(name)
    assert t.retry_after(name) == 60


def test_keys_are_apart_and_a_success_clears_one() -> None:
    clock = Clock()
    t, _ = throttle(clock)
    alice, bob = key("user", "alice"), key("user", "bob")
    for _ in range(3):
        t.failed(alice)
    assert t.retry_after(alice) == 10
    assert t.retry_after(bob) is None
    t.succeeded(alice)
    assert t.retry_after(alice) is None


def test_a_quiet_key_is_forgotten() -> None:
    clock = Clock()
    t, _ = throttle(clock)
    name = key("user", "alice")
    for _ in range(2):
        t.failed(name)
    clock.now += 300
    t.failed(name)  # counts as the first failure again
    assert t.retry_after(name) is None
    assert len(t) == 1


def test_the_table_is_bounded_and_evictions_are_counted() -> None:
    clock = Clock()
    t, registry = throttle(clock, size=100)
    for i in range(250):
        clock.now += 0.01
        t.failed(key("address", f"10.0.{i // 256}.{i % 256}"))
    assert len(t) == 100
    assert registry.get_sample_value("hostvitals_collector_auth_throttle_evicted_total") == 150
    assert registry.get_sample_value("hostvitals_collector_auth_throttle_entries") == 100
    # The newest are kept: two more failures of the last one reach the limit of three.
    newest, oldest = key("address", "10.0.0.249"), key("address", "10.0.0.0")
    for name in (newest, oldest):
        for _ in range(2):
            t.failed(name)
    assert t.retry_after(newest) == 10
    assert t.retry_after(oldest) is None


def test_refusals_are_counted_by_scope() -> None:
    clock = Clock()
    t, registry = throttle(clock)
    name = key("credential", "192.0.2.9")
    for _ in range(3):
        t.failed(name)
    assert t.refuse(name) == 10
    assert t.refuse(key("credential", "192.0.2.10")) is None
    count = registry.get_sample_value(
        "hostvitals_collector_auth_throttled_total", {"scope": "credential"}
    )
    assert count == 1


def test_a_long_name_is_cut_so_keys_stay_small() -> None:
    assert len(key("user", "x" * 10_000)) == len("user:") + 256
