"""Recently written frames, bounded per agent and in time."""

from __future__ import annotations

from collector.dedup import RecentFrames


def test_remembers_frames_per_agent() -> None:
    recent = RecentFrames(per_agent=3, ttl_s=100)
    recent.remember("a", "h", 1, 0)
    assert recent.seen("a", "h", 1)
    assert not recent.seen("a", "h", 2)
    assert not recent.seen("b", "h", 1)
    # A clone with the same agent id on another host is not a resend.
    assert not recent.seen("a", "other-host", 1)


def test_keeps_only_the_newest_per_agent() -> None:
    recent = RecentFrames(per_agent=3, ttl_s=100)
    for seq in range(5):
        recent.remember("a", "h", seq, 0)
    assert [recent.seen("a", "h", s) for s in range(5)] == [False, False, True, True, True]


def test_forgets_quiet_agents() -> None:
    recent = RecentFrames(per_agent=3, ttl_s=10)
    recent.remember("a", "h", 1, 0)
    recent.remember("b", "h", 1, 5)
    recent.remember("b", "h", 2, 12)
    assert not recent.seen("a", "h", 1)
    assert recent.seen("b", "h", 1)
    assert len(recent) == 1


def test_zero_disables_it() -> None:
    recent = RecentFrames(per_agent=0, ttl_s=10)
    recent.remember("a", "h", 1, 0)
    assert not recent.seen("a", "h", 1)
