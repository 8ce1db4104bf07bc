"""Parsing start, end and step of range queries: every accepted form and every error."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostvitals.collector.query.timeparse import (
    MAX_FUTURE_S,
    TimeRange,
    TimeRangeError,
    parse_range,
    parse_step,
    parse_time,
)

NOW = 1_795_500_000.0  # 2026-11-24T06:00:00Z
LIMITS = {"default_range_s": 3600, "default_points": 300, "max_points": 11_000}


def rng(start: str | None = None, end: str | None = None, step: str | None = None) -> TimeRange:
    return parse_range(start, end, step, now=NOW, **LIMITS)


# -- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", 1_700_000_000.0),
        ("1700000000.25", 1_700_000_000.25),
        (" 1700000000 ", 1_700_000_000.0),
        ("+1700000000", 1_700_000_000.0),
        ("1.7e9", 1_700_000_000.0),
        (".5", 0.5),
        ("0", 0.0),
        ("2026-11-24T08:00:00Z", datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp()),
        ("2026-11-24t08:00:00z", datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp()),
        ("2026-11-24 08:00:00Z", datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp()),
        ("2026-11-24T09:00:00+01:00", datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp()),
        ("2026-11-24T03:30:00-04:30", datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp()),
        ("2026-11-24T08:00:00.5Z", datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp() + 0.5),
        (
            "2026-11-24T08:00:00.123456789Z",
            datetime(2026, 11, 24, 8, tzinfo=UTC).timestamp() + 0.123456789,
        ),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_time_forms(text: str, expected: float) -> None:
    assert parse_time(text, "start") == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "now",
        "1_700_000_000",
        "0x10",
        "nan",
        "inf",
        "1e999",
        "1700000000s",
        "2026-11-24",
        "2026-11-24T08:00:00",  # no offset: ambiguous
        "2026-11-24T08:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-24T25:00:00Z",
        "2026-11-24T08:00:00+0100",
        "2026-11-24T08:00:00.Z",
        "2026-11-24T08:00:00.1234567890Z",
        "9" * 100,
    ],
)
def test_time_errors_name_the_parameter_and_the_forms(text: str) -> None:
    with pytest.raises(TimeRangeError) as caught:
        parse_time(text, "end")
    assert caught.value.param == "end"
    message = str(caught.value)
    assert message.startswith("invalid end ")
    assert "Unix seconds" in message and "RFC 3339" in message


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(TimeRangeError) as caught:
        parse_time("x" * 10_000, "start")
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize("text", ["-1", "1969-12-31T23:59:59Z"])
def test_times_before_1970_are_refused(text: str) -> None:
    with pytest.raises(TimeRangeError, match=r"invalid start .*before 1970"):
        parse_time(text, "start")


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    )
)
def test_rfc3339_round_trip(moment: datetime) -> None:
    text = moment.isoformat()  # e.g. 2031-05-06T07:08:09.123456+05:30
    assert parse_time(text, "start") == pytest.approx(moment.timestamp(), abs=1e-6)


@given(st.floats(min_value=0, max_value=1e11, allow_nan=False, allow_infinity=False))
def test_unix_seconds_round_trip(seconds: float) -> None:
    assert parse_time(repr(seconds), "start") == seconds


# -- steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15", 15.0),
        ("0.5", 0.5),
        ("1e1", 10.0),
        ("15s", 15.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("2h0m5s", 7205.0),
        ("500ms", 0.5),
        ("1s500ms", 1.5),
        ("1d", 86_400.0),
        ("1w", 604_800.0),
        ("1y", 31_536_000.0),
        ("1y2w3d4h5m6s7ms", 31_536_000 + 2 * 604_800 + 3 * 86_400 + 4 * 3600 + 5 * 60 + 6.007),
    ],
)
def test_step_forms(text: str, expected: float) -> None:
    assert parse_step(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text", ["", "s", "fast", "1.5m", "1m1h", "1h1h", "15S", "1 m", "-15s", "nan", "inf", "1e999"]
)
def test_step_errors_name_the_forms(text: str) -> None:
    with pytest.raises(TimeRangeError) as caught:
        parse_step(text)
    assert caught.value.param == "step"
    message = str(caught.value)
    assert message.startswith("invalid step ")
    assert "seconds" in message and "duration" in message


@pytest.mark.parametrize("text", ["0", "0s", "0ms", "-1", "0h0m"])
def test_step_must_be_positive(text: str) -> None:
    with pytest.raises(TimeRangeError, match=r"invalid step .*must be positive"):
        parse_step(text)


# -- ranges ---------------------------------------------------------------------------------


def test_defaults_cover_the_last_default_range() -> None:
    got = rng()
    assert got == TimeRange(NOW - 3600, NOW, 12.0)
    assert got.points() == 301


def test_default_step_is_whole_seconds_and_at_least_one() -> None:
    assert rng(start=str(NOW - 1000)).step == 4.0  # ceil(1000 / 300)
    assert rng(start=str(NOW - 100)).step == 1.0


def test_start_alone_ends_now_and_end_alone_starts_a_default_range_earlier() -> None:
    assert rng(start=str(NOW - 60)) == TimeRange(NOW - 60, NOW, 1.0)
    assert rng(end=str(NOW - 600)) == TimeRange(NOW - 4200, NOW - 600, 12.0)


def test_default_start_is_not_before_1970() -> None:
    assert rng(end="100", step="1") == TimeRange(0.0, 100.0, 1.0)


def test_explicit_values_are_kept() -> None:
    got = rng("2026-11-24T04:00:00Z", "2026-11-24T06:00:00+01:00", "1m")
    assert got.end - got.start == 3600
    assert got.step == 60.0
    assert got.points() == 61


@pytest.mark.parametrize(("start", "end"), [("200", "100"), ("100", "100")])
def test_start_must_be_before_end(start: str, end: str) -> None:
    with pytest.raises(TimeRangeError, match=r"start \(\d+\) must be before end") as caught:
        rng(start, end, "1")
    assert caught.value.param == "start"


def test_start_in_the_future_without_end_is_an_empty_range() -> None:
    with pytest.raises(TimeRangeError, match="must be before end"):
        rng(start=str(NOW + 60))


def test_too_many_points_says_how_many_and_the_limit() -> None:
    with pytest.raises(TimeRangeError) as caught:
        rng(str(NOW - 20_000), str(NOW), "1")
    assert caught.value.param == "step"
    assert str(caught.value) == (
        "invalid step 1s: the range of 20000s would return 20001 points per series; "
        "the limit is 11000; raise step"
    )


def test_exactly_max_points_intervals_is_allowed() -> None:
    got = rng(str(NOW - 11_000), str(NOW), "1")
    assert got.step == 1.0
    with pytest.raises(TimeRangeError, match="raise step"):
        rng(str(NOW - 11_000), str(NOW), "0.999")


@pytest.mark.parametrize(
    ("start", "end", "param"),
    [
        (None, str(NOW + MAX_FUTURE_S + 1), "end"),
        (str(NOW + MAX_FUTURE_S + 1), str(NOW + MAX_FUTURE_S + 100), "end"),
        (None, "9999-12-31T23:59:59Z", "end"),
    ],
)
def test_far_future_is_refused(start: str | None, end: str, param: str) -> None:
    with pytest.raises(TimeRangeError, match="past the current time") as caught:
        rng(start, end, "60")
    assert caught.value.param == param
    assert "e+" not in str(caught.value)


def test_near_future_is_allowed() -> None:
    got = rng(str(NOW - 60), str(NOW + MAX_FUTURE_S), "60")
    assert math.isclose(got.end, NOW + MAX_FUTURE_S)


def test_errors_in_each_parameter_name_it() -> None:
    for params, param in (
        (("x", None, None), "start"),
        ((None, "x", None), "end"),
        ((None, None, "x"), "step"),
    ):
        with pytest.raises(TimeRangeError) as caught:
            rng(*params)
        assert caught.value.param == param
        assert str(caught.value).startswith(f"invalid {param} 'x'")
