"""The collector's policy for a decoded frame: catalogue, label sets, limits, time window.

The limits are the ``limits`` section of the settings (:class:`LimitsSettings`), where each
one, its default and its meaning are stated. Pure: the current time is passed in. The first
violation raises :class:`PolicyError` and the whole frame is refused; nothing of a refused
frame is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import MappingProxyType

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.shared.catalogue import CATALOGUE, HOST_LABEL
from hostvitals.shared.protocol import Frame, Series, SeriesKey, series_key

_LABEL_SETS: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: frozenset(spec.labels) for name, spec in CATALOGUE.items()}
)


class PolicyError(ValueError):
    """A frame breaks a policy; ``reason`` is a short label for counting."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def validate_frame(
    frame: Frame, policy: LimitsSettings, now_ms: int, keys: Sequence[SeriesKey] | None = None
) -> int:
    """Check ``frame`` against the limits of ``policy``; return its sample count.

    ``keys``: the frame's series keys (``series_key`` of each series, in order) when the
    caller has them already.
    """
    if len(frame.series) > policy.max_series_per_frame:
        raise PolicyError(
            "too_many_series",
            f"frame has {len(frame.series)} series; the limit is {policy.max_series_per_frame}",
        )
    slots = len(frame.series) * len(frame.timestamps_ms)  # the codec checked every width
    if slots > policy.max_values_per_frame:
        raise PolicyError(
            "too_many_values",
            f"frame has {slots} values ({len(frame.series)} series x "
            f"{len(frame.timestamps_ms)} ticks, nil included); the limit is "
            f"{policy.max_values_per_frame}",
        )
    _check_window(frame.timestamps_ms, policy, now_ms)

    max_len = policy.max_label_value_length
    seen: set[SeriesKey] = set()
    samples = 0
    if keys is None:
        keys = [series_key(x.metric, x.labels) for x in frame.series]
    # The messages' "series[i] metric" prefix is formatted only for a refusal (_where).
    for index, (series, key) in enumerate(zip(frame.series, keys, strict=True)):
        expected = _LABEL_SETS.get(series.metric)
        if expected is None:
            raise PolicyError(
                "unknown_metric",
                f"{_where(index, series)}: unknown metric '{series.metric}' (not in the catalogue)",
            )
        labels = series.labels
        if len(labels) > policy.max_labels_per_series:
            raise PolicyError(
                "too_many_labels",
                f"{_where(index, series)}: {len(labels)} labels; "
                f"the limit is {policy.max_labels_per_series}",
            )
        if HOST_LABEL in labels:
            raise PolicyError(
                "reserved_label",
                f"{_where(index, series)}: label '{HOST_LABEL}' is reserved; "
                "the collector sets it from the frame's host",
            )
        if labels.keys() != expected:
            raise PolicyError(
                "label_set",
                f"{_where(index, series)}: {_label_mismatch(labels.keys(), expected)}",
            )
        for name, value in labels.items():
            if len(value) > max_len:
                raise PolicyError(
                    "label_value_too_long",
                    f"{_where(index, series)}: label '{name}' is {len(value)} characters "
                    f"long; the limit is {max_len}",
                )
        if key in seen:
            raise PolicyError(
                "duplicate_series",
                f"{_where(index, series)}: series {series.metric}{_render(labels)} "
                "appears more than once",
            )
        seen.add(key)
        values = series.values
        samples += len(values) - values.count(None)

    if samples > policy.max_samples_per_frame:
        raise PolicyError(
            "too_many_samples",
            f"frame has {samples} samples; the limit is {policy.max_samples_per_frame}",
        )
    return samples


def _where(index: int, series: Series) -> str:
    return f"series[{index}] {series.metric}"


def _check_window(timestamps_ms: list[int], policy: LimitsSettings, now_ms: int) -> None:
    oldest = now_ms - policy.max_sample_age_s * 1000
    newest = now_ms + policy.max_future_skew_s * 1000
    window = f"accepted window is {_iso(oldest)} .. {_iso(newest)} ({oldest} .. {newest} ms)"
    # Ticks are strictly increasing (the codec checks it): the ends decide.
    first, last = timestamps_ms[0], timestamps_ms[-1]
    if first < oldest:
        raise PolicyError("too_old", f"tick {first} ms ({_iso(first)}) is too old; the {window}")
    if last > newest:
        raise PolicyError(
            "too_far_in_future",
            f"tick {last} ms ({_iso(last)}) is too far in the future; the {window}",
        )


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return "out of range"


def _label_mismatch(got: Iterable[str], expected: frozenset[str]) -> str:
    present = set(got)
    problems = []
    if missing := expected - present:
        problems.append(f"missing {_names(missing)}")
    if extra := present - expected:
        problems.append(f"unexpected {_names(extra)}")
    return (
        f"labels {_names(present)} do not match the catalogue's {_names(expected)}: "
        + ", ".join(problems)
    )


def _names(names: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(names)) + "}"


def _render(labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"
