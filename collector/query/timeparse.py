"""Parse the ``start``, ``end`` and ``step`` of a range query.

Times are Unix seconds (``1700000000``, ``1700000000.5``) or RFC 3339 timestamps
(``2026-11-24T08:00:00Z``, ``2026-11-24T09:00:00.250+01:00``). A step is a number of seconds
(``15``, ``0.5``) or a Prometheus duration (``15s``, ``1m``, ``1h30m``, ``500ms``).

Everything here is pure: the current time and the limits are arguments, and every problem is a
:class:`TimeRangeError` whose message names the parameter and the forms it accepts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

TIME_FORMS = (
    "Unix seconds (e.g. 1700000000 or 1700000000.5) "
    "or an RFC 3339 time (e.g. 2026-11-24T08:00:00Z or 2026-11-24T09:00:00+01:00)"
)
STEP_FORMS = "seconds (e.g. 15 or 0.5) or a duration (e.g. 15s, 1m, 1h30m)"

MAX_FUTURE_S = 86_400.0
"""How far past the current time a range may reach; anything later is a mistake."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)
_DURATION = re.compile(
    r"(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?"
    r"(?:(?P<m>\d+)m(?!s))?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?"
)
_UNIT_SECONDS = {
    "y": 365 * 86_400.0,
    "w": 7 * 86_400.0,
    "d": 86_400.0,
    "h": 3_600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_MAX_TEXT = 64


class TimeRangeError(ValueError):
    """A bad ``start``, ``end`` or ``step``; ``param`` names the offending parameter."""

    def __init__(self, param: str, message: str) -> None:
        self.param = param
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A validated range: Unix seconds, ``start < end``, ``step > 0``."""

    start: float
    end: float
    step: float

    def points(self) -> int:
        """How many points a series over this range has at most."""
        return math.floor((self.end - self.start) / self.step) + 1


def _seconds(value: float) -> str:
    """``1700000000.25`` as written, never in exponent notation."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _shown(value: str) -> str:
    return repr(value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "...")


def parse_time(value: str, param: str) -> float:
    """Unix seconds from Unix seconds or an RFC 3339 timestamp."""
    text = value.strip()
    seconds: float | None = None
    if len(text) <= _MAX_TEXT:
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif match := _RFC3339.fullmatch(text):
            seconds = _rfc3339_seconds(match)
    if seconds is None or not math.isfinite(seconds):
        raise TimeRangeError(param, f"invalid {param} {_shown(value)}: expected {TIME_FORMS}")
    if seconds < 0:
        raise TimeRangeError(
            param, f"invalid {param} {_shown(value)}: times before 1970 are not stored"
        )
    return seconds


def _rfc3339_seconds(match: re.Match[str]) -> float | None:
    try:
        whole = datetime.fromisoformat(f"{match['date']}T{match['time']}{match['offset'].upper()}")
    except ValueError:  # e.g. month 13 or hour 25
        return None
    fraction = float(f"0.{match['fraction']}") if match["fraction"] else 0.0
    return whole.timestamp() + fraction


def parse_step(value: str, param: str = "step") -> float:
    """Seconds from a number of seconds or a Prometheus duration; always positive."""
    text = value.strip()
    seconds: float | None = None
    if len(text) <= _MAX_TEXT:
        if _NUMBER.fullmatch(text):
            seconds = float(text)
        elif text and (match := _DURATION.fullmatch(text)):
            seconds = sum(
                int(count) * _UNIT_SECONDS[unit]
                for unit, count in match.groupdict().items()
                if count is not None
            )
    if seconds is None or not math.isfinite(seconds):
        raise TimeRangeError(param, f"invalid {param} {_shown(value)}: expected {STEP_FORMS}")
    if seconds <= 0:
        raise TimeRangeError(param, f"invalid {param} {_shown(value)}: {param} must be positive")
    return seconds


def parse_range(
    start: str | None,
    end: str | None,
    step: str | None,
    *,
    now: float,
    default_range_s: float,
    default_points: int,
    max_points: int,
) -> TimeRange:
    """Validate a range query's parameters, filling in the defaults.

    Defaults: ``end`` is now, ``start`` is ``end - default_range_s``, and ``step`` gives about
    ``default_points`` points (whole seconds, at least one).
    """
    end_s = now if end is None else parse_time(end, "end")
    start_s = max(0.0, end_s - default_range_s) if start is None else parse_time(start, "start")
    # A range reaching into the far future is a mistake (a start past it is past end too).
    if end_s > now + MAX_FUTURE_S:
        raise TimeRangeError(
            "end",
            f"invalid end: {_seconds(end_s)} is more than {_seconds(MAX_FUTURE_S)}s "
            f"past the current time ({_seconds(now)}); nothing is stored there",
        )
    if start_s >= end_s:
        raise TimeRangeError(
            "start",
            f"invalid range: start ({_seconds(start_s)}) must be before end ({_seconds(end_s)})",
        )
    if step is None:
        step_s = float(max(1, math.ceil((end_s - start_s) / max(1, default_points))))
    else:
        step_s = parse_step(step)
    ratio = (end_s - start_s) / step_s
    if ratio > max_points:
        points = math.floor(ratio) + 1
        raise TimeRangeError(
            "step",
            f"invalid step {_seconds(step_s)}s: the range of {_seconds(end_s - start_s)}s "
            f"would return "
            f"{points} points per series; the limit is {max_points}; raise step",
        )
    return TimeRange(start_s, end_s, step_s)
