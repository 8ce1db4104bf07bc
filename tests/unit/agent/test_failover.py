"""URL failover: the URL that worked last goes first, and the first one is rechecked."""

from __future__ import annotations

import pytest

from hostvitals.agent.failover import Failover


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_url_is_always_tried_alone() -> None:
    failover = Failover(1, 30.0, Clock())
    failover.failed(0)
    assert failover.order() == [0]
    assert failover.answered(0) is False


def test_rounds_start_with_the_url_that_answered_last() -> None:
    clock = Clock()
    failover = Failover(3, 30.0, clock)
    assert failover.order() == [0, 1, 2]
    failover.failed(0)
    failover.failed(1)
    assert failover.answered(2) is True  # a switch
    assert failover.active == 2
    assert failover.order() == [2, 0, 1]
    assert failover.answered(2) is False


def test_the_first_url_is_rechecked_after_the_period_and_used_when_it_answers() -> None:
    clock = Clock()
    failover = Failover(2, 30.0, clock)
    failover.failed(0)
    failover.answered(1)
    clock.now = 29.0
    assert failover.order() == [1, 0]
    clock.now = 30.0
    assert failover.order() == [0, 1]  # due for a recheck
    failover.failed(0)  # still down: the next recheck is a period later
    assert failover.order() == [1, 0]
    clock.now = 60.0
    assert failover.order() == [0, 1]
    assert failover.answered(0) is True
    assert failover.order() == [0, 1]


def test_every_answer_from_a_later_url_postpones_the_recheck() -> None:
    clock = Clock()
    failover = Failover(2, 30.0, clock)
    failover.answered(1)
    clock.now = 20.0
    failover.answered(1)
    clock.now = 40.0
    assert failover.order() == [1, 0]
    clock.now = 50.0
    assert failover.order() == [0, 1]


def test_at_least_one_url() -> None:
    with pytest.raises(ValueError):
        Failover(0, 30.0, Clock())
