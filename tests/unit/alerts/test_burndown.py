"""Burn-down arithmetic: buckets of bad events against the window's budget."""

from __future__ import annotations

import pytest

from hostvitals.collector.alerts.burndown import Buckets, grid, remaining, worst_of


def test_grid_covers_the_window_on_step_multiples() -> None:
    g = grid(window_s=3600, now=10_030.0, points=60, min_step_s=30)
    assert g.step == 60
    assert g.end == 10_080 and g.end % 60 == 0 and g.start % 60 == 0
    assert len(g.times) == 60
    # The first bucket begins a step before start: the buckets span the window.
    assert g.end - (g.start - g.step) == 3600
    assert grid(window_s=3600, now=0.0, points=1000, min_step_s=30).step == 30
    with pytest.raises(ValueError, match="at least 2"):
        grid(3600, 0.0, 1, 1)


def test_remaining_is_cumulative_against_the_whole_window() -> None:
    g = grid(window_s=400, now=400.0, points=4, min_step_s=1)  # buckets end 100..400
    # 99 % target, 1,000 events per bucket: a budget of 40 bad events over the window.
    b = Buckets(
        bad={100: 0.0, 200: 10.0, 300: 0.0, 400: 30.0},
        weight={100: 1000.0, 200: 1000.0, 300: 1000.0, 400: 1000.0},
    )
    line = remaining(b, g, target=0.99, now=400.0)
    assert line == [
        (100.0, 1.0),
        (200.0, pytest.approx(0.75)),
        (300.0, pytest.approx(0.75)),
        (400.0, pytest.approx(0.0)),
    ]


def test_remaining_starts_with_the_data_and_may_go_negative() -> None:
    g = grid(window_s=400, now=390.0, points=4, min_step_s=1)
    b = Buckets(bad={300: 1.0, 400: 1.0}, weight={300: 1.0, 400: 1.0})  # all bad
    line = remaining(b, g, target=0.9, now=390.0)
    # Budget 0.1 x 2 buckets = 0.2: the first bad bucket overspends it five times.
    assert line == [(300.0, pytest.approx(-4.0)), (390.0, pytest.approx(-9.0))]
    assert remaining(Buckets(), g, 0.9, 390.0) == []


def test_the_slo_line_is_its_worst_indicator() -> None:
    assert worst_of([[(1.0, 1.0), (2.0, 0.5)], [(2.0, 0.7), (3.0, 0.2)]]) == [
        (1.0, 1.0),
        (2.0, 0.5),
        (3.0, 0.2),
    ]
