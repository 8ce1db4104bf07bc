"""Wire protocol v1: what a frame holds.

A frame is one msgpack map sent by one agent. Samples are columnar: the frame carries one
list of tick timestamps, and every series carries one value per tick (``None`` where the
series was not sampled at that tick). See docs/protocol.md for the byte layout.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

VERSION: Final = 1
SUPPORTED_VERSIONS: Final[tuple[int, ...]] = (1,)
CONTENT_TYPE: Final = "application/x-msgpack"

FLUSH_INTERVAL_HEADER: Final = "Hostvitals-Flush-Interval"
"""Header of an ingest answer (204): the collector asks the agent to close a frame this often,
in seconds (its sampling interval while someone watches the host). Absent: the agent's own
``flush_interval``."""
FLUSH_HINT_VALID_S: Final = 15.0
"""How long an agent follows an answer that asked for faster flushing when no newer answer
comes; the collector counts the host as flushing fast for as long after its last such answer."""

# Map keys on the wire. Short keys keep frames small; they are fixed for a version.
K_VERSION: Final = "v"
K_AGENT: Final = "agent"
K_HOST: Final = "host"
K_SEQ: Final = "seq"
K_SENT: Final = "sent"
K_INTERVAL: Final = "interval"
K_TIMESTAMPS: Final = "ts"
K_SERIES: Final = "series"

MAX_SEQ: Final = 2**63 - 1
MAX_INTERVAL_S: Final = 3600.0

Value = float | int | None
SeriesKey = tuple[str, ...]
"""A series' identity: its metric, then its labels as name, value, name, value... by name."""


def series_key(metric: str, labels: Mapping[str, str]) -> SeriesKey:
    """The identity of the series ``metric{labels}``, whatever the order of ``labels``.

    A flat tuple of strings: it hashes fast, takes a fraction of a frozenset's memory, and
    the garbage collector stops following it after its first pass, so a receiver can keep
    hundreds of thousands of them without long collections.
    """
    if not labels:
        return (metric,)
    if len(labels) == 1:
        ((name, value),) = labels.items()
        return (metric, name, value)
    flat = [metric]
    for name, value in sorted(labels.items()):
        flat.append(name)
        flat.append(value)
    return tuple(flat)


def interned(key: SeriesKey) -> SeriesKey:
    """``key`` with its strings interned, for keys kept long: every host's copy of a metric
    name or a label value is then the same string object."""
    return tuple(map(sys.intern, key))


@dataclass(slots=True)
class Series:
    """One metric with one label set, and its values aligned with the frame's ticks."""

    metric: str
    labels: dict[str, str]
    values: list[Value]

    def sample_count(self) -> int:
        return len(self.values) - self.values.count(None)


@dataclass(slots=True)
class Frame:
    """A batch of samples from one agent, with its identity and place in the sequence."""

    agent_id: str
    host: str
    seq: int
    sent_at_ms: int
    interval_s: float
    timestamps_ms: list[int]
    series: list[Series] = field(default_factory=list)
    version: int = VERSION

    def sample_count(self) -> int:
        return sum(s.sample_count() for s in self.series)

    def to_jsonable(self) -> dict[str, object]:
        """A plain-dict view for logs and ``--once`` output."""
        return {
            "version": self.version,
            "agent_id": self.agent_id,
            "host": self.host,
            "seq": self.seq,
            "sent_at_ms": self.sent_at_ms,
            "interval_s": self.interval_s,
            "timestamps_ms": self.timestamps_ms,
            "series": [
                {"metric": s.metric, "labels": s.labels, "values": s.values} for s in self.series
            ],
        }
