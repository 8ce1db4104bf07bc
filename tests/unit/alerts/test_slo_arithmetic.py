"""Burn-rate and budget arithmetic against the SRE workbook's tables ("Alerting on SLOs")."""

from __future__ import annotations

import math

import pytest

from hostvitals.collector.alerts import slo
from hostvitals.collector.config.vocabulary import Severity

DAY = 86_400
WINDOW = 30 * DAY


@pytest.mark.parametrize(
    ("error_ratio", "burn", "exhausted_s"),
    [
        # Table 5-4 for a 99.9 % SLO over 30 days: burn rate, error rate, time to exhaustion.
        (0.001, 1.0, 30 * DAY),
        (0.002, 2.0, 15 * DAY),
        (0.01, 10.0, 3 * DAY),
        (1.0, 1000.0, 43.2 * 60),
    ],
)
def test_burn_rate_and_time_to_exhaustion(
    error_ratio: float, burn: float, exhausted_s: float
) -> None:
    rate = slo.burn_rate(error_ratio, 0.999)
    assert rate == pytest.approx(burn)
    assert slo.time_to_exhaustion(rate, WINDOW) == pytest.approx(exhausted_s)


@pytest.mark.parametrize(
    ("share", "long_s", "short_s", "burn", "severity"),
    [
        # Table 5-8: 2 % in 1 h (and 5 min) pages at 14.4, 5 % in 6 h (30 min) at 6,
        # 10 % in 3 days (6 h) is a ticket at 1.
        (0.02, 3600, 300, 14.4, Severity.CRITICAL),
        (0.05, 6 * 3600, 1800, 6.0, Severity.HIGH),
        (0.10, 3 * DAY, 6 * 3600, 1.0, Severity.MEDIUM),
    ],
)
def test_recommended_multiwindow_alerts(
    share: float, long_s: int, short_s: int, burn: float, severity: Severity
) -> None:
    (alert,) = [a for a in slo.BURN_ALERTS if a.long_s == long_s]
    assert (alert.budget_share, alert.short_s, alert.severity) == (share, short_s, severity)
    assert alert.short_s * 12 == alert.long_s
    assert alert.burn_rate(WINDOW) == pytest.approx(burn)
    assert slo.budget_share_spent(burn, long_s, WINDOW) == pytest.approx(share)


def test_burn_rates_scale_with_the_window() -> None:
    # A 7-day window: 2 % of its budget in 1 h is a burn rate of 0.02 * 168 = 3.36.
    assert slo.burn_rate_for_share(0.02, 3600, 7 * DAY) == pytest.approx(3.36)


def test_detection_time_of_a_total_outage() -> None:
    # 100 % errors against 99.9 %: burn 1000; the 14.4 alert needs 14.4/1000 of its hour.
    fast = slo.BURN_ALERTS[0]
    assert slo.detection_time(1.0, 0.999, fast, WINDOW) == pytest.approx(51.84)
    # An error ratio that never reaches the threshold is never detected.
    assert math.isinf(slo.detection_time(0.005, 0.999, fast, WINDOW))


def test_remaining_budget_as_ratio_and_time() -> None:
    assert slo.error_budget(0.999) == pytest.approx(0.001)
    # Untouched 99.9 % over 30 days: 43.2 minutes of total outage.
    assert slo.remaining_budget_s(0.0, 0.999, WINDOW) == pytest.approx(43.2 * 60)
    # Half the allowed errors spent: half the budget left.
    assert slo.remaining_budget(0.0005, 0.999) == pytest.approx(0.5)
    assert slo.remaining_budget_s(0.0005, 0.999, WINDOW) == pytest.approx(21.6 * 60)
    # Overspent budgets go negative rather than stopping at zero.
    assert slo.remaining_budget(0.002, 0.999) == pytest.approx(-1.0)


def test_burning_needs_both_windows() -> None:
    hour, five = 3600, 300
    assert slo.burning({hour: 20.0, five: 20.0}, WINDOW) == [slo.BURN_ALERTS[0]]
    # The long window still remembers, the short one says it is over: no alert.
    assert slo.burning({hour: 20.0, five: 0.5}, WINDOW) == []
    # Exactly at the threshold is not above it.
    assert slo.burning({hour: 14.4, five: 14.4}, WINDOW) == []
    assert slo.burning({}, WINDOW) == []


@pytest.mark.parametrize("target", [0.0, 1.0, -0.1, 1.5])
def test_target_must_be_a_ratio(target: float) -> None:
    with pytest.raises(ValueError, match="target"):
        slo.error_budget(target)


def test_duration_text() -> None:
    assert [slo.duration_text(s) for s in (300, 3600, 259200, 2592000, 90)] == [
        "5m",
        "1h",
        "3d",
        "30d",
        "90s",
    ]
    with pytest.raises(ValueError):
        slo.duration_text(1.5)


@pytest.mark.parametrize(
    ("window_s", "step_s", "expected"),
    [
        (3 * slo.DAY, 60, 60),  # 4,320 points: the configured step
        (7 * slo.DAY, 60, 120),  # 10,080 points at 1 min: just over the cap
        (30 * slo.DAY, 60, 300),  # 43,200 points at 1 min would be refused by VictoriaMetrics
        (30 * slo.DAY, 15, 300),
        (365 * slo.DAY, 60, 3600),
        (30 * slo.DAY, 7, 266),  # no round multiple of 7 s: the smallest multiple that fits
    ],
)
def test_subquery_steps_keep_within_the_point_limit(
    window_s: int, step_s: int, expected: int
) -> None:
    step = slo.subquery_step(window_s, step_s)
    assert step == expected
    assert window_s / step <= slo.MAX_SUBQUERY_POINTS
    assert step % step_s == 0
