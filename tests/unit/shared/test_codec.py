"""The wire codec: round trips, shape errors, and the size of the columnar layout."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostvitals.shared.codec import decode_frame, encode_frame
from hostvitals.shared.errors import DecodeError, ProtocolError, SchemaError, VersionError
from hostvitals.shared.protocol import SUPPORTED_VERSIONS, Frame, Series


def make_frame(**overrides: Any) -> Frame:
    fields: dict[str, Any] = {
        "agent_id": "0f1e2d3c-agent",
        "host": "web-1",
        "seq": 7,
        "sent_at_ms": 1_700_000_010_000,
        "interval_s": 1.0,
        "timestamps_ms": [1_700_000_000_000, 1_700_000_001_000],
        "series": [
            Series("node_load1", {}, [0.5, 0.75]),
            Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, [10.25, None]),
        ],
    }
    fields.update(overrides)
    return Frame(**fields)


def document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = msgpack.unpackb(encode_frame(make_frame()))
    doc.update(overrides)
    return doc


def test_round_trip_keeps_every_field() -> None:
    frame = make_frame()
    assert decode_frame(encode_frame(frame)) == frame


label_text = st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)
values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    start = draw(st.integers(min_value=0, max_value=2**42))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=60_000), min_size=0, max_size=15))
    ticks = [start]
    for gap in gaps:
        ticks.append(ticks[-1] + gap)
    n_series = draw(st.integers(min_value=0, max_value=8))
    series = [
        Series(
            draw(st.from_regex(r"[a-z_][a-z0-9_]{0,30}", fullmatch=True)),
            draw(
                st.dictionaries(
                    st.from_regex(r"[a-z_]{1,10}", fullmatch=True), label_text, max_size=3
                )
            ),
            draw(st.lists(values, min_size=len(ticks), max_size=len(ticks))),
        )
        for _ in range(n_series)
    ]
    return Frame(
        agent_id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)),
        host=draw(st.from_regex(r"[a-z0-9][a-z0-9.-]{0,60}", fullmatch=True)),
        seq=draw(st.integers(min_value=0, max_value=2**63 - 1)),
        sent_at_ms=draw(st.integers(min_value=0, max_value=2**43)),
        interval_s=draw(st.floats(min_value=0.001, max_value=3600)),
        timestamps_ms=ticks,
        series=series,
    )


@settings(max_examples=300, deadline=None)
@given(frames())
def test_round_trip_property(frame: Frame) -> None:
    assert decode_frame(encode_frame(frame)) == frame


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_the_error_tree(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except ProtocolError:
        return
    # Only a well-formed frame decodes: a msgpack map that survives a round trip unchanged.
    assert isinstance(msgpack.unpackb(data), dict)
    assert decode_frame(encode_frame(frame)) == frame


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", DecodeError),
        (b"\xc1", DecodeError),  # a byte msgpack never uses
        (b"\x92\x01", DecodeError),  # an array cut short
        (msgpack.packb([1, 2, 3]), SchemaError),
        (msgpack.packb(7), SchemaError),
        (msgpack.packb({"v": 1}), SchemaError),
        (msgpack.packb({"v": 99, "agent": "a"}), VersionError),
    ],
)
def test_garbage_raises_the_error_of_its_kind(data: bytes, error: type[ProtocolError]) -> None:
    with pytest.raises(error):
        decode_frame(data)


@settings(max_examples=300, deadline=None)
@given(frames(), st.data())
def test_mutated_frames_decode_or_raise_protocol_errors(frame: Frame, data: st.DataObject) -> None:
    raw = bytearray(encode_frame(frame))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[pos] = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=1, max_value=len(raw)))
    try:
        decoded = decode_frame(bytes(raw[:cut]))
    except ProtocolError:
        return
    assert all(len(s.values) == len(decoded.timestamps_ms) for s in decoded.series)


def naive_layout(frame: Frame) -> bytes:
    """One map per sample, the layout the columnar frame is meant to beat."""
    samples = [
        {"metric": s.metric, "labels": s.labels, "timestamp": ts, "value": v}
        for s in frame.series
        for ts, v in zip(frame.timestamps_ms, s.values, strict=True)
        if v is not None
    ]
    return msgpack.packb(
        {"agent": frame.agent_id, "host": frame.host, "seq": frame.seq, "samples": samples}
    )


def test_columnar_layout_is_a_fraction_of_the_naive_one() -> None:
    ticks = [1_700_000_000_000 + 1000 * i for i in range(10)]
    series = [
        Series(
            "node_cpu_seconds_total",
            {"cpu": str(cpu), "mode": mode},
            [1000.0 + cpu + i * 0.37 for i in range(10)],
        )
        for cpu in range(8)
        for mode in ("user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice")
    ]
    frame = make_frame(timestamps_ms=ticks, series=series)
    columnar, naive = len(encode_frame(frame)), len(naive_layout(frame))
    assert columnar * 3 < naive, (columnar, naive)


def test_not_msgpack_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode_frame(b"\xc1")  # 0xc1 is never used in msgpack
    with pytest.raises(DecodeError):
        decode_frame(b"")
    with pytest.raises(DecodeError):
        decode_frame(encode_frame(make_frame()) + b"\x00")  # trailing bytes


def test_unknown_version_names_the_supported_ones() -> None:
    with pytest.raises(VersionError) as err:
        decode_frame(msgpack.packb(document(v=99)))
    assert "99" in str(err.value)
    assert all(str(v) in str(err.value) for v in SUPPORTED_VERSIONS)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"agent": ""}, "agent"),
        ({"agent": "a b"}, "agent"),
        ({"host": ""}, "host"),
        ({"host": "bad\nhost"}, "host"),
        ({"seq": -1}, "seq"),
        ({"seq": "7"}, "seq"),
        ({"seq": True}, "seq"),
        ({"sent": 1.5}, "sent"),
        ({"interval": 0}, "interval"),
        ({"interval": 7200}, "interval"),
        ({"ts": []}, "ts"),
        ({"ts": [2, 1]}, "ts[1]"),
        ({"ts": [1, 1]}, "ts[1]"),
        ({"ts": [1.5]}, "ts[0]"),
        ({"series": {}}, "series"),
        ({"series": [["m", {}]]}, "series[0]"),
        ({"series": [["", {}, [1, 2]]]}, "series[0].metric"),
        ({"series": [["m", [], [1, 2]]]}, "series[0].labels"),
        ({"series": [["m", {"a": 1}, [1, 2]]]}, "series[0].labels.a"),
        ({"series": [["m", {}, [1]]]}, "series[0].values"),
        ({"series": [["m", {}, [1, "2"]]]}, "series[0].values[1]"),
        ({"series": [["m", {}, [1, True]]]}, "series[0].values[1]"),
        ({"series": [["m", {}, [1, math.nan]]]}, "series[0].values[1]"),
        ({"series": [["m", {}, [math.inf, 1]]]}, "series[0].values[0]"),
    ],
)
def test_schema_errors_name_the_field(overrides: dict[str, Any], path: str) -> None:
    with pytest.raises(SchemaError) as err:
        decode_frame(msgpack.packb(document(**overrides)))
    assert err.value.path == path
    assert str(err.value).startswith(path)


@pytest.mark.parametrize("key", ["v", "agent", "host", "seq", "sent", "interval", "ts", "series"])
def test_missing_fields_are_named(key: str) -> None:
    doc = document()
    del doc[key]
    with pytest.raises(SchemaError) as err:
        decode_frame(msgpack.packb(doc))
    assert err.value.path == key


def test_a_frame_must_be_a_map() -> None:
    with pytest.raises(SchemaError, match="must be a map"):
        decode_frame(msgpack.packb([1, 2, 3]))


def test_unknown_top_level_keys_are_ignored_for_forward_compatibility() -> None:
    assert decode_frame(msgpack.packb(document(extra="later"))) == make_frame()


def test_sample_count_counts_every_value_but_the_gaps() -> None:
    series = [Series("m", {}, [None, 0.0, 1, None, 0, -2.5]), Series("n", {}, [None])]
    frame = Frame("a", "h", 1, 0, 1.0, [1, 2, 3, 4, 5, 6], series)
    assert [s.sample_count() for s in series] == [4, 0]
    assert frame.sample_count() == 4
