"""Batcher: column alignment with sparse series, flush rules, guarding the catalogue."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from hostvitals.agent.batcher import Batcher, check_row_identity
from hostvitals.agent.state import StateError
from hostvitals.shared.codec import decode_frame, encode_frame
from hostvitals.shared.protocol import Frame

CPU0 = (("cpu", "0"), ("mode", "idle"))
ETH0 = (("device", "eth0"),)
SDA = (("device", "sda"),)


def make(**overrides: Any) -> Batcher:
    seqs = itertools.count(7)
    settings: dict[str, Any] = {
        "agent_id": "agent-1",
        "host": "web-1",
        "interval_s": 1.0,
        "flush_interval_s": 10.0,
        "max_samples": 1000,
        "next_seq": lambda: next(seqs),
        "clock_ms": lambda: 99_000,
    }
    settings.update(overrides)
    return Batcher(**settings)


def columns(frame: Frame) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[Any]]:
    return {(s.metric, tuple(sorted(s.labels.items()))): s.values for s in frame.series}


def test_sparse_series_are_padded_with_none_and_aligned() -> None:
    batcher = make(flush_interval_s=3.0)
    assert batcher.add(1000, [("node_load1", (), 0.5), ("node_cpu_seconds_total", CPU0, 1.0)]) == []
    # a disk appears at the second tick; load is missing at the second tick
    assert (
        batcher.add(
            2000,
            [("node_cpu_seconds_total", CPU0, 2.0), ("node_disk_read_bytes_total", SDA, 10)],
        )
        == []
    )
    (frame,) = batcher.add(3000, [("node_load1", (), 0.75)])
    assert frame.timestamps_ms == [1000, 2000, 3000]
    assert columns(frame) == {
        ("node_load1", ()): [0.5, None, 0.75],
        ("node_cpu_seconds_total", CPU0): [1.0, 2.0, None],
        ("node_disk_read_bytes_total", SDA): [None, 10, None],
    }
    assert frame.sample_count() == 5
    assert (frame.agent_id, frame.host, frame.seq, frame.sent_at_ms) == (
        "agent-1",
        "web-1",
        7,
        99_000,
    )
    assert frame.interval_s == 1.0
    # what the batcher builds is a valid frame on the wire
    assert decode_frame(encode_frame(frame)) == frame


def test_flushes_when_the_frame_spans_the_flush_interval() -> None:
    batcher = make(flush_interval_s=5.0)
    closed = [batcher.add(t * 1000, [("node_load1", (), float(t))]) for t in range(12)]
    sizes = [len(c) for c in closed]
    assert sizes == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0]
    assert closed[4][0].timestamps_ms == [0, 1000, 2000, 3000, 4000]
    assert batcher.ticks == 2


def test_skipped_ticks_count_towards_the_span() -> None:
    batcher = make(flush_interval_s=5.0)
    assert batcher.add(0, [("node_load1", (), 1.0)]) == []
    (frame,) = batcher.add(4000, [("node_load1", (), 2.0)])
    assert frame.timestamps_ms == [0, 4000]


def test_flushes_when_max_samples_is_reached() -> None:
    batcher = make(max_samples=4)
    rows = [("node_load1", (), 1.0), ("node_load5", (), 1.0)]
    assert batcher.add(0, rows) == []
    (frame,) = batcher.add(1000, rows)
    assert frame.sample_count() == 4
    assert batcher.samples == 0


def test_closes_before_a_tick_that_would_overflow() -> None:
    batcher = make(max_samples=5)
    rows = [("node_load1", (), 1.0), ("node_load5", (), 1.0), ("node_load15", (), 1.0)]
    assert batcher.add(0, rows) == []
    (frame,) = batcher.add(1000, rows)  # 6 > 5: the first tick goes out alone
    assert frame.timestamps_ms == [0]
    assert batcher.samples == 3


def test_one_tick_larger_than_max_goes_out_whole() -> None:
    batcher = make(max_samples=2)
    rows = [("node_load1", (), 1.0), ("node_load5", (), 1.0), ("node_load15", (), 1.0)]
    (frame,) = batcher.add(0, rows)
    assert frame.sample_count() == 3


def test_clock_stepping_back_closes_the_frame() -> None:
    batcher = make()
    batcher.add(5000, [("node_load1", (), 1.0)])
    (frame,) = batcher.add(3000, [("node_load1", (), 2.0)])
    assert frame.timestamps_ms == [5000]
    assert batcher.flush() is not None


def test_flush_returns_what_is_pending_and_none_when_empty() -> None:
    batcher = make()
    assert batcher.flush() is None
    batcher.add(0, [])
    assert batcher.flush() is None  # ticks without samples are not worth a frame
    batcher.add(1000, [("node_load1", (), 1.0)])
    frame = batcher.flush()
    assert frame is not None and frame.timestamps_ms == [1000]
    assert batcher.flush() is None


def test_sequence_numbers_are_taken_only_for_frames_that_go_out() -> None:
    taken: list[int] = []

    def next_seq() -> int:
        taken.append(len(taken))
        return taken[-1]

    batcher = make(next_seq=next_seq, flush_interval_s=1.0)
    batcher.add(0, [])
    batcher.add(1000, [("no_such_metric", (), 1.0)])
    assert taken == []
    assert batcher.open_seq is None
    (frame,) = batcher.add(2000, [("node_load1", (), 1.0)])
    assert taken == [0]
    assert frame.seq == 0


def test_the_sequence_number_is_known_while_the_frame_is_open() -> None:
    batcher = make(next_seq=iter(range(7, 100)).__next__, flush_interval_s=3.0)
    assert batcher.open_seq is None
    batcher.add(0, [("node_load1", (), 1.0)])
    assert batcher.open_seq == 7
    batcher.add(1000, [("node_load1", (), 2.0)])
    frame = batcher.flush()
    assert frame is not None and frame.seq == 7
    assert batcher.open_seq is None


def test_rows_outside_the_catalogue_and_non_finite_values_are_dropped() -> None:
    batcher = make()
    batcher.add(
        0,
        [
            ("node_load1", (), float("nan")),
            ("node_load5", (), float("inf")),
            ("no_such_metric", (), 1.0),
            ("node_network_receive_bytes_total", (("iface", "eth0"),), 1),
            ("node_load15", (("host", "x"),), 1.0),
            ("node_network_receive_bytes_total", ETH0, 5),
        ],
    )
    frame = batcher.flush()
    assert frame is not None
    assert columns(frame) == {("node_network_receive_bytes_total", ETH0): [5]}
    assert batcher.nonfinite_values == 2
    assert batcher.invalid_rows == 3


def test_a_repeated_series_in_one_tick_keeps_the_last_value() -> None:
    batcher = make()
    batcher.add(0, [("node_load1", (), 1.0), ("node_load1", (), 2.0)])
    frame = batcher.flush()
    assert frame is not None
    assert columns(frame) == {("node_load1", ()): [2.0]}
    assert frame.sample_count() == 1
    assert batcher.duplicate_rows == 1


def test_when_no_sequence_number_can_be_reserved_the_frame_is_dropped_and_counted() -> None:
    def broken() -> int:
        raise StateError("disk full")

    batcher = make(next_seq=broken, flush_interval_s=2.0)
    with pytest.raises(StateError):
        batcher.add(0, [("node_load1", (), 1.0)])
    with pytest.raises(StateError):
        batcher.add(1000, [("node_load1", (), 1.0)])
    assert batcher.lost_samples == 2
    assert batcher.samples == 0  # memory does not grow while the state is broken


def test_flush_interval_must_cover_the_interval() -> None:
    with pytest.raises(ValueError, match="flush_interval_s"):
        make(interval_s=10.0, flush_interval_s=5.0)


@pytest.mark.parametrize(
    ("metric", "labels", "problem"),
    [
        ("node_load1", (), None),
        ("node_cpu_seconds_total", (("mode", "idle"), ("cpu", "0")), None),  # any order
        ("nope", (), "not in the catalogue"),
        ("node_cpu_seconds_total", (("cpu", "0"),), "the catalogue says"),
        ("node_load1", (("host", "h"),), "the catalogue says"),
        ("node_network_receive_bytes_total", (("device", "x" * 256),), None),
        ("node_network_receive_bytes_total", (("device", "x" * 257),), "longer than 256"),
    ],
)
def test_check_row_identity(metric: str, labels: Any, problem: str | None) -> None:
    result = check_row_identity(metric, labels)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


def test_a_series_is_checked_against_the_catalogue_once_not_in_every_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hostvitals.agent.batcher as module

    checked: list[str] = []

    def counting(metric: str, labels: Any, catalogue: Any = module.CATALOGUE) -> str | None:
        checked.append(metric)
        return check_row_identity(metric, labels, catalogue)

    monkeypatch.setattr(module, "check_row_identity", counting)
    batcher = make(flush_interval_s=1.0)  # a frame per tick, as while the host is watched
    for tick in range(5):
        (frame,) = batcher.add(1000 * tick, [("node_load1", (), 0.5), ("nope", (), 1.0)])
        assert columns(frame) == {("node_load1", ()): [0.5]}
    assert checked.count("node_load1") == 1
    assert checked.count("nope") == 5  # an invalid row is dropped and counted every time
    assert batcher.invalid_rows == 5
