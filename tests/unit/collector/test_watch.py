"""The watch registry: marks that lapse, the fleet-wide watch, and the budget of fast hosts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from hostvitals.collector.live.watch import WatchRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def registry(**kwargs: float) -> tuple[WatchRegistry, Clock, CollectorRegistry]:
    clock = Clock()
    metrics = CollectorRegistry()
    options = {"ttl_s": 10.0, "max_fast_hosts": 2, "lease_s": 15.0, **kwargs}
    watch = WatchRegistry(
        ttl_s=options["ttl_s"],
        max_fast_hosts=int(options["max_fast_hosts"]),
        lease_s=options["lease_s"],
        max_watched=int(options.get("max_watched", 100)),
        clock=clock,
        registry=metrics,
    )
    return watch, clock, metrics


def refused(metrics: CollectorRegistry, reason: str) -> float:
    value = metrics.get_sample_value(
        "hostvitals_collector_fast_flush_refused_total", {"reason": reason}
    )
    assert value is not None
    return value


def gauge(metrics: CollectorRegistry, name: str) -> float:
    value = metrics.get_sample_value(name)
    assert value is not None
    return value


def test_a_mark_lasts_ttl_after_the_last_signal() -> None:
    watch, clock, metrics = registry()
    assert not watch.watched("web-1")
    watch.host("web-1")
    clock.now += 9.0
    assert watch.watched("web-1")
    watch.host("web-1")  # the dashboard polls again
    clock.now += 9.0
    assert watch.watched("web-1")
    assert not watch.watched("web-2")
    assert gauge(metrics, "hostvitals_collector_watched_hosts") == 1
    clock.now += 1.5
    assert not watch.watched("web-1")
    assert gauge(metrics, "hostvitals_collector_watched_hosts") == 0


def test_the_fleet_watch_covers_every_host_until_it_lapses() -> None:
    watch, clock, metrics = registry()
    watch.fleet()
    assert watch.watched("web-1") and watch.watched("anything")
    assert gauge(metrics, "hostvitals_collector_fleet_watched") == 1
    clock.now += 10.0
    assert not watch.watched("web-1")
    assert gauge(metrics, "hostvitals_collector_fleet_watched") == 0


def test_only_watched_hosts_are_granted_and_a_grant_ends_with_the_watch() -> None:
    watch, clock, metrics = registry()
    assert not watch.grant("web-1")  # nobody looks: not a refusal
    assert refused(metrics, "budget") == 0
    watch.host("web-1")
    assert watch.grant("web-1")
    assert watch.fast("web-1")
    assert gauge(metrics, "hostvitals_collector_fast_flush_hosts") == 1
    clock.now += 11.0  # the dashboard closed
    assert watch.fast("web-1")  # its agent may still be flushing every tick
    assert not watch.grant("web-1")  # this answer does not ask: the grant ends
    assert not watch.fast("web-1")
    assert gauge(metrics, "hostvitals_collector_fast_flush_hosts") == 0


def test_a_grant_lapses_when_its_host_stops_sending() -> None:
    watch, clock, _ = registry()
    watch.host("web-1")
    assert watch.grant("web-1")
    clock.now += 14.0
    assert watch.fast("web-1")
    clock.now += 1.0
    assert not watch.fast("web-1")


def test_the_budget_bounds_fast_hosts_and_refusals_are_counted() -> None:
    watch, clock, metrics = registry(max_fast_hosts=2)
    for name in ("a", "b", "c"):
        watch.host(name)
    assert watch.grant("a") and watch.grant("b")
    assert not watch.grant("c")
    assert refused(metrics, "budget") == 1
    assert watch.grant("a")  # a host holding a grant keeps it
    assert not watch.fast("c")
    # When one of them stops being watched, its place is free.
    clock.now += 9.0
    watch.host("b")
    watch.host("c")
    clock.now += 2.0  # a lapsed
    assert not watch.grant("a")
    assert watch.grant("c")
    assert gauge(metrics, "hostvitals_collector_fast_flush_hosts") == 2


def test_a_host_watched_by_itself_takes_the_place_of_one_watched_as_part_of_the_fleet() -> None:
    watch, _, metrics = registry(max_fast_hosts=2)
    watch.fleet()
    assert watch.grant("a") and watch.grant("b")
    assert not watch.grant("c")  # only part of the fleet: no place
    watch.host("d")
    assert watch.grant("d")  # someone opened d's page
    assert sum(watch.fast(name) for name in "ab") == 1
    watch.host("e")
    assert watch.grant("e")
    assert not watch.fast("a") and not watch.fast("b")
    watch.host("f")
    assert not watch.grant("f")  # every place is taken by a host watched by itself
    assert refused(metrics, "budget") == 2


def test_no_headroom_refuses_and_ends_the_grant() -> None:
    watch, _, metrics = registry()
    watch.host("a")
    assert watch.grant("a")
    assert not watch.grant("a", "write_queue")
    assert not watch.fast("a")
    assert not watch.grant("a", "breaker")
    assert refused(metrics, "write_queue") == 1
    assert refused(metrics, "breaker") == 1
    assert watch.grant("a")


def test_a_zero_budget_never_grants() -> None:
    watch, _, metrics = registry(max_fast_hosts=0)
    watch.host("a")
    assert not watch.grant("a")
    assert refused(metrics, "budget") == 1


def test_marks_are_bounded_and_drops_counted() -> None:
    watch, clock, metrics = registry(max_watched=3)
    for name in ("a", "b", "c", "d"):
        watch.host(name)
    assert [watch.watched(n) for n in "abcd"] == [True, True, True, False]
    dropped = metrics.get_sample_value("hostvitals_collector_watch_dropped_total")
    assert dropped == 1
    watch.host("a")  # a host already marked is renewed, not dropped
    assert metrics.get_sample_value("hostvitals_collector_watch_dropped_total") == 1
    clock.now += 11.0  # lapsed marks make room
    watch.host("d")
    assert watch.watched("d")
