"""Frame -> VictoriaMetrics import lines."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from hostvitals.collector.ingest.importlines import frame_to_import_lines
from hostvitals.shared.protocol import Frame, Series, Value
from tests.support.frames import catalogue_frame

TICKS = [1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_000]


def parse(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\n") or body == b""
    return [orjson.loads(line) for line in body.splitlines()]


def test_one_line_per_series_with_host_and_name() -> None:
    frame = Frame(
        "agent",
        "web-1",
        1,
        TICKS[-1],
        1.0,
        TICKS,
        [
            Series("node_load1", {}, [0.5, 0.25, 1]),
            Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, [10, 11.5, 2**63]),
        ],
    )
    lines = frame_to_import_lines(frame)
    assert (lines.series, lines.samples) == (2, 6)
    assert parse(lines.body) == [
        {
            "metric": {"__name__": "node_load1", "host": "web-1"},
            "values": [0.5, 0.25, 1],
            "timestamps": TICKS,
        },
        {
            "metric": {
                "__name__": "node_cpu_seconds_total",
                "host": "web-1",
                "cpu": "0",
                "mode": "idle",
            },
            "values": [10, 11.5, 2**63],
            "timestamps": TICKS,
        },
    ]


def test_gaps_are_skipped_and_empty_series_dropped() -> None:
    frame = Frame(
        "agent",
        "h",
        1,
        TICKS[-1],
        1.0,
        TICKS,
        [
            Series("node_load1", {}, [None, 2, None]),
            Series("node_load5", {}, [None, None, None]),
            Series("node_load15", {}, [1, None, 3]),
        ],
    )
    lines = frame_to_import_lines(frame)
    assert (lines.series, lines.samples) == (2, 3)
    parsed = parse(lines.body)
    assert [(p["values"], p["timestamps"]) for p in parsed] == [
        ([2], [TICKS[1]]),
        ([1, 3], [TICKS[0], TICKS[2]]),
    ]


def test_awkward_strings_are_escaped() -> None:
    host = 'we"ird\\host\u00e9'
    labels = {"device": 'a"b\\c\n', "mountpoint": "/m\u00fcnchen", "fstype": "\u2603"}
    frame = Frame(
        "agent",
        host,
        1,
        TICKS[0],
        1.0,
        TICKS[:1],
        [Series("node_filesystem_size_bytes", labels, [1])],
    )
    (line,) = parse(frame_to_import_lines(frame).body)
    assert line["metric"] == {"__name__": "node_filesystem_size_bytes", "host": host, **labels}


values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(st.lists(st.lists(values, min_size=4, max_size=4), max_size=6))
def test_every_present_value_is_written_at_its_tick(columns: list[list[Value]]) -> None:
    ticks = [1, 2, 3, 4]
    series = [
        Series("node_disk_read_bytes_total", {"device": f"d{i}"}, v) for i, v in enumerate(columns)
    ]
    frame = Frame("agent", "h", 1, 4, 1.0, ticks, series)
    lines = frame_to_import_lines(frame)
    got = {
        p["metric"]["device"]: list(zip(p["timestamps"], p["values"], strict=True))
        for p in parse(lines.body)
    }
    expected = {
        f"d{i}": [(t, v) for t, v in zip(ticks, col, strict=True) if v is not None]
        for i, col in enumerate(columns)
    }
    assert got == {k: v for k, v in expected.items() if v}
    assert lines.samples == sum(len(v) for v in expected.values())


def test_full_catalogue_frame() -> None:
    frame = catalogue_frame("web-1", TICKS)
    lines = frame_to_import_lines(frame)
    assert lines.series == len(frame.series)
    assert lines.samples == frame.sample_count()
    assert len(parse(lines.body)) == len(frame.series)


awkward = st.one_of(
    st.sampled_from(['},{"metric":', '"},{"metric":{"__name__":"x"', "\\", '\\"', "}\n{", ""]),
    st.text(max_size=30),
)


@given(host=awkward.filter(bool), devices=st.lists(awkward, min_size=1, max_size=4, unique=True))
def test_any_host_and_label_text_survives_the_line_split(host: str, devices: list[str]) -> None:
    series = [
        Series("node_disk_read_bytes_total", {"device": d}, [i, None, i + 1])
        for i, d in enumerate(devices)
    ]
    frame = Frame("agent", host, 1, TICKS[-1], 1.0, TICKS, series)
    parsed = parse(frame_to_import_lines(frame).body)
    assert [p["metric"] for p in parsed] == [
        {"__name__": "node_disk_read_bytes_total", "host": host, "device": d} for d in devices
    ]
    assert [p["values"] for p in parsed] == [[i, i + 1] for i in range(len(devices))]


def test_no_samples_no_body() -> None:
    frame = Frame("agent", "h", 1, TICKS[0], 1.0, TICKS[:1], [Series("node_load1", {}, [None])])
    lines = frame_to_import_lines(frame)
    assert (lines.body, lines.series, lines.samples) == (b"", 0, 0)
