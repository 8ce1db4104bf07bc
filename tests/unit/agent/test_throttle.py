"""Rate-limited logging."""

from __future__ import annotations

import logging

import pytest

from hostvitals.agent.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_event_per_key_per_period_with_a_count_of_the_rest() -> None:
    clock = Clock()
    throttle = Throttle(60.0, clock=clock)
    assert throttle.allow("a") == 0
    assert throttle.allow("a") is None
    assert throttle.allow("b") == 0  # keys are independent
    clock.now = 59.0
    assert throttle.allow("a") is None
    clock.now = 60.0
    assert throttle.allow("a") == 2


def test_keys_are_bounded() -> None:
    throttle = Throttle(60.0, clock=Clock(), max_keys=3)
    for key in range(10):
        assert throttle.allow(key) == 0
    assert throttle.allow(9) is None  # recent keys are remembered
    assert throttle.allow(0) == 0  # the oldest were forgotten


def test_log_mentions_suppressed_messages(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = Throttle(10.0, clock=clock)
    logger = logging.getLogger("test.throttle")
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for _ in range(4):
            throttle.log(logger, logging.WARNING, "k", "disk %s failed", "sda")
        clock.now = 10.0
        throttle.log(logger, logging.WARNING, "k", "disk %s failed", "sda")
    assert [r.getMessage() for r in caplog.records] == [
        "disk sda failed",
        "disk sda failed (3 similar messages suppressed)",
    ]
