"""The frame policy, as a pure function of frame, limits and now."""

from __future__ import annotations

import pytest

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.collector.ingest.validate import PolicyError, validate_frame
from hostvitals.shared.catalogue import CATALOGUE
from hostvitals.shared.protocol import Frame, Series, series_key
from tests.support.frames import catalogue_frame, label_sets

NOW_MS = 1_764_000_000_000
POLICY = LimitsSettings()


def frame_with(series: list[Series], ticks: list[int] | None = None) -> Frame:
    ticks = ticks or [NOW_MS - 1000, NOW_MS]
    return Frame("agent", "web-1", 1, NOW_MS, 1.0, ticks, series)


def reason_of(frame: Frame, policy: LimitsSettings = POLICY) -> tuple[str, str]:
    with pytest.raises(PolicyError) as err:
        validate_frame(frame, policy, NOW_MS)
    return err.value.reason, err.value.message


def test_a_full_catalogue_frame_is_valid_and_its_samples_counted() -> None:
    frame = catalogue_frame("web-1", [NOW_MS - 2000, NOW_MS - 1000, NOW_MS])
    assert validate_frame(frame, POLICY, NOW_MS) == frame.sample_count()
    assert {s.metric for s in frame.series} == set(CATALOGUE)


def test_gaps_are_not_counted_as_samples() -> None:
    frame = frame_with([Series("node_load1", {}, [None, 1.0])])
    assert validate_frame(frame, POLICY, NOW_MS) == 1


def test_every_catalogue_label_set_is_accepted() -> None:
    for name, spec in CATALOGUE.items():
        series = [Series(name, labels, [1, 2]) for labels in label_sets(spec)]
        validate_frame(frame_with(series), POLICY, NOW_MS)


def test_unknown_metric() -> None:
    reason, message = reason_of(frame_with([Series("node_load2", {}, [1, 2])]))
    assert reason == "unknown_metric"
    assert "unknown metric 'node_load2'" in message
    assert message.startswith("series[0] node_load2")


def test_extra_and_missing_labels_are_both_named() -> None:
    series = Series("node_filesystem_size_bytes", {"device": "sda1", "mount": "/"}, [1, 2])
    reason, message = reason_of(frame_with([series]))
    assert reason == "label_set"
    assert "missing {fstype, mountpoint}" in message
    assert "unexpected {mount}" in message
    assert "catalogue's {device, fstype, mountpoint}" in message


def test_host_label_is_reserved() -> None:
    reason, message = reason_of(frame_with([Series("node_load1", {"host": "x"}, [1, 2])]))
    assert reason == "reserved_label"
    assert "'host' is reserved" in message


def test_label_value_length() -> None:
    policy = LimitsSettings(max_label_value_length=4)
    ok = Series("node_disk_read_bytes_total", {"device": "sdaa"}, [1, 2])
    validate_frame(frame_with([ok]), policy, NOW_MS)
    long = Series("node_disk_read_bytes_total", {"device": "sdaaa"}, [1, 2])
    reason, message = reason_of(frame_with([long]), policy)
    assert reason == "label_value_too_long"
    assert "label 'device' is 5 characters long; the limit is 4" in message


def test_duplicate_series_regardless_of_label_order() -> None:
    a = Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, [1, 2])
    b = Series("node_cpu_seconds_total", {"mode": "idle", "cpu": "0"}, [3, 4])
    reason, message = reason_of(frame_with([a, b]))
    assert reason == "duplicate_series"
    assert 'node_cpu_seconds_total{cpu="0",mode="idle"}' in message
    assert message.startswith("series[1]")


def test_same_metric_different_labels_is_fine() -> None:
    a = Series("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, [1, 2])
    b = Series("node_cpu_seconds_total", {"cpu": "1", "mode": "idle"}, [3, 4])
    assert validate_frame(frame_with([a, b]), POLICY, NOW_MS) == 4


def test_series_limit() -> None:
    series = [Series("node_disk_read_bytes_total", {"device": f"d{i}"}, [1, 2]) for i in range(4)]
    validate_frame(frame_with(series), LimitsSettings(max_series_per_frame=4), NOW_MS)
    reason, message = reason_of(frame_with(series), LimitsSettings(max_series_per_frame=3))
    assert reason == "too_many_series"
    assert message == "frame has 4 series; the limit is 3"


def test_sample_limit() -> None:
    series = [
        Series("node_disk_read_bytes_total", {"device": f"d{i}"}, [1, None]) for i in range(4)
    ]
    validate_frame(frame_with(series), LimitsSettings(max_samples_per_frame=4), NOW_MS)
    reason, message = reason_of(frame_with(series), LimitsSettings(max_samples_per_frame=3))
    assert reason == "too_many_samples"
    assert message == "frame has 4 samples; the limit is 3"


def test_time_window_edges() -> None:
    policy = LimitsSettings(max_sample_age_s=60, max_future_skew_s=5)
    load = [Series("node_load1", {}, [1, 2])]
    validate_frame(frame_with(load, [NOW_MS - 60_000, NOW_MS + 5_000]), policy, NOW_MS)

    reason, message = reason_of(frame_with(load, [NOW_MS - 60_001, NOW_MS]), policy)
    assert reason == "too_old"
    assert f"tick {NOW_MS - 60_001} ms" in message
    assert f"({NOW_MS - 60_000} .. {NOW_MS + 5_000} ms)" in message

    reason, message = reason_of(frame_with(load, [NOW_MS, NOW_MS + 5_001]), policy)
    assert reason == "too_far_in_future"
    assert f"tick {NOW_MS + 5_001} ms" in message
    assert "(2025-11-24T16:00:05.001+00:00)" in message
    assert "window is 2025-11-24T15:59:00.000+00:00 .. 2025-11-24T16:00:05.000+00:00" in message


def test_series_keys_the_caller_has_are_used_as_given() -> None:
    frame = catalogue_frame("web-1", [NOW_MS - 1000, NOW_MS])
    keys = [series_key(s.metric, s.labels) for s in frame.series]
    assert validate_frame(frame, POLICY, NOW_MS, keys) == frame.sample_count()
    # The duplicate check goes by the keys given: two keys made equal make a duplicate.
    with pytest.raises(PolicyError) as err:
        validate_frame(frame, POLICY, NOW_MS, [keys[0], *keys[:-1]])
    assert err.value.reason == "duplicate_series"
    assert err.value.message.startswith(f"series[1] {frame.series[1].metric}: ")
