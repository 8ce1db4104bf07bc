"""HostDown's memory of hosts: silence counts only from when the collector could hear them."""

from __future__ import annotations

from hostvitals.collector.alerts.hostwatch import HostWatch, NotListening
from hostvitals.collector.live.current import HostSnapshot

AFTER = 3  # flush periods of silence before a host is down
PERIOD = 10.0


def snapshot(host: str, last_seen: float) -> HostSnapshot:
    return HostSnapshot(host, "agent", last_seen, 1.0, PERIOD, 0, "up", (), None)


def down_hosts(watch: HostWatch, now: float, *seen: HostSnapshot) -> list[str]:
    result = watch.down(list(seen), now, AFTER)
    assert not isinstance(result, NotListening)
    return [s.labels["host"] for s in result]


def test_a_silent_host_is_down_after_its_down_period() -> None:
    watch = HostWatch(ttl_s=86_400)
    watch.listen(0.0, accepting=True)
    assert down_hosts(watch, 5.0, snapshot("a", 5.0), snapshot("b", 5.0)) == []
    assert down_hosts(watch, 35.0, snapshot("a", 34.0)) == []
    assert down_hosts(watch, 35.1, snapshot("a", 34.0)) == ["b"]
    result = watch.down([], 40.0, AFTER)
    assert not isinstance(result, NotListening)
    (sample,) = result
    assert sample.value == 35.0  # seconds since b's last frame


def test_after_a_restart_known_hosts_get_a_whole_down_period_to_report() -> None:
    before = HostWatch(ttl_s=86_400)
    before.listen(0.0, accepting=True)
    down_hosts(before, 100.0, snapshot("up", 100.0), snapshot("gone", 100.0))
    # The collector stops at 100 and starts again at 160, with the saved state.
    after = HostWatch(ttl_s=86_400)
    after.load(before.dump())
    after.listen(160.0, accepting=True)
    assert down_hosts(after, 161.0) == []  # both last seen 61 s ago, but only just listening
    assert down_hosts(after, 175.0, snapshot("up", 174.0)) == []
    assert down_hosts(after, 190.0) == []
    assert down_hosts(after, 190.1, snapshot("up", 189.0)) == ["gone"]


def test_while_frames_are_refused_host_down_is_not_evaluated_and_waits_after() -> None:
    watch = HostWatch(ttl_s=86_400)
    watch.listen(0.0, accepting=True)
    down_hosts(watch, 10.0, snapshot("a", 10.0))
    watch.listen(20.0, accepting=False)  # VictoriaMetrics down: the breaker refuses frames
    assert isinstance(watch.down([], 60.0, AFTER), NotListening)
    watch.listen(100.0, accepting=True)  # agents catch up from their spools from now on
    assert down_hosts(watch, 129.0) == []
    assert down_hosts(watch, 130.1) == ["a"]


def test_hosts_unseen_for_the_ttl_are_forgotten() -> None:
    watch = HostWatch(ttl_s=100)
    watch.listen(0.0, accepting=True)
    down_hosts(watch, 1.0, snapshot("old", 1.0))
    assert down_hosts(watch, 50.0) == ["old"]
    assert down_hosts(watch, 102.0) == []
    assert watch.dump() == {}
