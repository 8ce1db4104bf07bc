"""Range answers of a real VictoriaMetrics (1.79, Debian's package) decode as they did point
by point: the same points, NaN and infinite values left out, the same bytes once encoded."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from hostvitals.collector.vm.rangejson import JsonSeries, points_json
from hostvitals.collector.vm.reader import RangeSeries, VictoriaMetricsReader, range_points
from hostvitals.collector.vm.transport import MockTransport, Response

FIXTURES = Path(__file__).parents[2] / "fixtures" / "victoriametrics"
# rate() over 24 h at a 120 s step with an hour's gap; the same divided so that most points
# are +Inf.
ANSWERS = ("rate_24h.json", "with_inf.json")


def point_by_point(values: list[list[Any]]) -> list[tuple[float, float]]:
    """The decoder as it was: a tuple per point, then a filtered copy."""
    points = [(float(t), float(v)) for t, v in values]
    return [p for p in points if math.isfinite(p[1])]


def parsed(body: bytes) -> list[RangeSeries]:
    transport = MockTransport(lambda _request: Response(200, body))
    return VictoriaMetricsReader("http://vm.test", 3.0, transport).query_range("q", 0, 1, 1)


@pytest.mark.parametrize("name", ANSWERS)
def test_real_answers_decode_as_point_by_point(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    expected = [
        (item["metric"], point_by_point(item["values"]))
        for item in orjson.loads(body)["data"]["result"]
    ]
    got = [(s.labels, s.points) for s in parsed(body)]
    assert got == expected
    assert orjson.dumps(got) == orjson.dumps(expected)
    assert sum(len(points) for _, points in got) > 1000  # not an empty answer


def test_the_fixture_with_infinities_has_them_and_they_are_dropped() -> None:
    body = (FIXTURES / "with_inf.json").read_bytes()
    texts = [v for item in orjson.loads(body)["data"]["result"] for _, v in item["values"]]
    assert "+Inf" in texts
    kept = [p for s in parsed(body) for p in s.points]
    assert kept and all(math.isfinite(v) for _, v in kept)
    assert len(kept) == sum(t not in ("+Inf", "-Inf", "NaN") for t in texts)


@pytest.mark.parametrize(
    ("values", "points"),
    [
        ([], []),
        ([[1, "1"], [2.5, "NaN"], [3, "-Inf"], [4, "2e3"]], [(1.0, 1.0), (4.0, 2000.0)]),
        ([[1, "1e308"], [2, "1e308"]], [(1.0, 1e308), (2.0, 1e308)]),  # the sum overflows
        ([[1, "+Inf"], [2, "-Inf"]], []),  # the sum is NaN
    ],
)
def test_points_are_finite_values_in_order(
    values: list[list[Any]], points: list[tuple[float, float]]
) -> None:
    assert range_points(values) == points == point_by_point(values)


@pytest.mark.parametrize(
    "values", [[[1, "x"]], [[1]], [[1, "1", 2]], [[1, "1"], [2]], [1, 2], [[None, "1"]]]
)
def test_malformed_points_raise_as_before(values: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        point_by_point(values)
    with pytest.raises((TypeError, ValueError)):
        range_points(values)


def as_json(body: bytes) -> list[JsonSeries]:
    transport = MockTransport(lambda _request: Response(200, body))
    return VictoriaMetricsReader("http://vm.test", 3.0, transport).query_range_json("q", 0, 1, 1)


@pytest.mark.parametrize("name", ANSWERS)
def test_real_answers_as_json_hold_the_points_of_point_by_point(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    expected = [
        (item["metric"], point_by_point(item["values"]))
        for item in orjson.loads(body)["data"]["result"]
    ]
    got = [(s.labels, [tuple(p) for p in orjson.loads(s.points_json)]) for s in as_json(body)]
    assert got == expected
    assert sum(len(points) for _, points in got) > 1000  # not an empty answer


def test_the_fast_way_passes_the_value_texts_through_unquoted() -> None:
    values = [[1700000000, "0.5"], [1700000120.5, "-1.25e-07"], [1700000240, "3"]]
    assert (
        points_json(values, range_points)
        == b"[[1700000000,0.5],[1700000120.5,-1.25e-07],[1700000240,3]]"
    )


@pytest.mark.parametrize(
    ("values", "points"),
    [
        ([], []),
        ([[1, "1"], [2.5, "NaN"], [3, "-Inf"], [4, "2e3"]], [(1.0, 1.0), (4.0, 2000.0)]),
        ([[1, "1e308"], [2, "1e308"]], [(1.0, 1e308), (2.0, 1e308)]),  # the sum overflows
        ([[1, "+Inf"], [2, "-Inf"]], []),
        ([[1, "1e999"]], []),  # overflows to infinity once parsed
    ],
)
def test_points_json_holds_the_finite_values_in_order(
    values: list[list[Any]], points: list[tuple[float, float]]
) -> None:
    assert [tuple(p) for p in orjson.loads(points_json(values, range_points))] == points


@pytest.mark.parametrize(
    "values",
    [
        [[1, "x"]],
        [[1]],
        [[1, "1", 2]],
        [[1, "1"], [2]],
        [1, 2],
        [[None, "1"]],
        [[[1], "1"]],
        [[1, "1..2"]],
        [[1, ""]],
        [[1, '1"]'], [2, "1"]],
        {"1": "1"},
    ],
)
def test_malformed_points_raise_as_json_too(values: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        points_json(values, range_points)
