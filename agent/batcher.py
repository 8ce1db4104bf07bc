"""Accumulates ticks into columnar frames.

A frame has one list of tick timestamps and, per series, one value per tick (None where the
series had no sample at that tick). A frame is closed when it spans ``flush_interval`` seconds
or holds ``max_samples`` samples, whichever comes first, and when the clock steps backwards
(tick times in a frame must increase).

A frame's sequence number is taken when its first sample arrives, so the ticks of an open frame
can be journaled under the number the frame will carry (see ``hostvitals.agent.journal``): a frame
rebuilt from the journal after a crash has the same number, and the collector recognises it
if the original was sent.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping

from hostvitals.agent.samplers.base import Labels, Row
from hostvitals.agent.throttle import Throttle
from hostvitals.shared.catalogue import CATALOGUE, HOST_LABEL, MetricSpec
from hostvitals.shared.protocol import Frame, Series, Value

log = logging.getLogger(__name__)

SeriesKey = tuple[str, Labels]

MAX_LABEL_VALUE_LENGTH = 256
"""The collector's default limit; a longer value would make it refuse the whole frame."""
MAX_KNOWN_SERIES = 65_536
"""Series identities remembered as valid, so a new frame does not check each one again (at a
frame per tick that check was most of the cost of starting a frame); cleared when full."""


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def check_row_identity(
    metric: str, labels: Labels, catalogue: Mapping[str, MetricSpec] = CATALOGUE
) -> str | None:
    """Why a series is not one the collector accepts, or None if it is."""
    spec = catalogue.get(metric)
    if spec is None:
        return f"metric {metric!r} is not in the catalogue"
    names = sorted(name for name, _ in labels)
    if names != sorted(spec.labels):
        return f"{metric} has labels {names}, the catalogue says {sorted(spec.labels)}"
    if HOST_LABEL in names:
        return f"{metric} carries the reserved label {HOST_LABEL!r}"
    for name, value in labels:
        if type(value) is not str:
            return f"{metric} label {name} is not a string"
        if len(value) > MAX_LABEL_VALUE_LENGTH:
            return f"{metric} label {name} is longer than {MAX_LABEL_VALUE_LENGTH} characters"
    return None


class Batcher:
    """Builds frames from ticks.

    ``add`` returns the frames it closed (usually none, at most two); ``flush`` closes the
    current one early. Rows for series outside the catalogue and non-finite values are
    dropped and counted, so one bad row cannot make the collector reject a whole frame.
    """

    def __init__(
        self,
        *,
        agent_id: str,
        host: str,
        interval_s: float,
        flush_interval_s: float,
        max_samples: int,
        next_seq: Callable[[], int],
        clock_ms: Callable[[], int] = wall_clock_ms,
        catalogue: Mapping[str, MetricSpec] = CATALOGUE,
    ) -> None:
        if flush_interval_s < interval_s:
            raise ValueError("flush_interval_s must be at least interval_s")
        if max_samples < 1:
            raise ValueError("max_samples must be positive")
        self._agent_id = agent_id
        self._host = host
        self._interval_s = interval_s
        self._interval_ms = round(interval_s * 1000)
        self._flush_ms = round(flush_interval_s * 1000)
        self._max_samples = max_samples
        self._next_seq = next_seq
        self._clock_ms = clock_ms
        self._catalogue = catalogue
        self._throttle = Throttle()
        self._valid: set[SeriesKey] = set()
        self._ts: list[int] = []
        self._series: dict[SeriesKey, list[Value]] = {}
        self._samples = 0
        self._seq: int | None = None
        self.invalid_rows = 0
        """Rows dropped because their series is not in the catalogue."""
        self.nonfinite_values = 0
        """Values dropped because they were NaN or infinite."""
        self.duplicate_rows = 0
        """Rows that repeated a series within one tick (the last value wins)."""
        self.lost_samples = 0
        """Samples of frames dropped because no sequence number could be reserved."""

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def ticks(self) -> int:
        return len(self._ts)

    def holds(self, ts_ms: int) -> bool:
        """Whether the open frame's newest tick is ``ts_ms``."""
        return bool(self._ts) and self._ts[-1] == ts_ms

    @property
    def open_seq(self) -> int | None:
        """The sequence number of the open frame; None when no frame is open."""
        return self._seq

    @property
    def flush_interval_s(self) -> float:
        return self._flush_ms / 1000

    @flush_interval_s.setter
    def flush_interval_s(self, seconds: float) -> None:
        """Change how long frames span from now on (the open frame included)."""
        if seconds < self._interval_s:
            raise ValueError("flush_interval_s must be at least interval_s")
        self._flush_ms = round(seconds * 1000)

    def add(self, ts_ms: int, rows: Iterable[Row]) -> list[Frame]:
        """Add one tick's rows; return the frames this closed, oldest first."""
        rows = rows if isinstance(rows, list) else list(rows)
        closed: list[Frame] = []
        if self._ts and (ts_ms <= self._ts[-1] or self._samples + len(rows) > self._max_samples):
            closed.extend(self._close())
        self._append(ts_ms, rows)
        span = self._ts[-1] - self._ts[0] + self._interval_ms
        if self._samples >= self._max_samples or span >= self._flush_ms:
            closed.extend(self._close())
        return closed

    def flush(self) -> Frame | None:
        """Close the current frame now (None if it holds no samples)."""
        frames = self._close()
        return frames[0] if frames else None

    def _append(self, ts_ms: int, rows: list[Row]) -> None:
        n = len(self._ts)
        self._ts.append(ts_ms)
        series = self._series
        isfinite = math.isfinite
        added = 0
        for metric, labels, value in rows:
            if type(value) is float and not isfinite(value):
                self.nonfinite_values += 1
                continue
            key = (metric, labels)
            column = series.get(key)
            if column is None:
                if key not in self._valid:
                    problem = check_row_identity(metric, labels, self._catalogue)
                    if problem is not None:
                        self.invalid_rows += 1
                        self._throttle.log(log, logging.ERROR, metric, "dropping row: %s", problem)
                        continue
                    if len(self._valid) >= MAX_KNOWN_SERIES:
                        self._valid.clear()
                    self._valid.add(key)
                column = [None] * n
                series[key] = column
            elif len(column) > n:
                self.duplicate_rows += 1
                column[n] = value
                continue
            column.append(value)
            added += 1
        for column in series.values():
            if len(column) == n:
                column.append(None)
        self._samples += added
        if added and self._seq is None:
            try:
                self._seq = self._next_seq()
            except Exception:
                self.lost_samples += self._samples
                self._ts, self._series, self._samples = [], {}, 0
                raise

    def _close(self) -> list[Frame]:
        if not self._ts:
            return []
        ts, series, samples, seq = self._ts, self._series, self._samples, self._seq
        self._ts, self._series, self._samples, self._seq = [], {}, 0, None
        if samples == 0 or seq is None:
            return []
        return [
            Frame(
                agent_id=self._agent_id,
                host=self._host,
                seq=seq,
                sent_at_ms=self._clock_ms(),
                interval_s=self._interval_s,
                timestamps_ms=ts,
                series=[
                    Series(metric, dict(labels), values)
                    for (metric, labels), values in series.items()
                ],
            )
        ]
