"""Turn a frame into VictoriaMetrics ``/api/v1/import`` JSON lines, one line per series.

This is the collector's hot path. Series without gaps reuse the frame's timestamp list as is;
only series with gaps (``None`` values) are filtered. All lines are serialised by a single
``orjson.dumps`` call over the list of line documents (a call per line costs about three
times as much), and the array is then cut into lines where one document ends and the next
begins: the bytes ``},{"metric":`` occur nowhere else in the array, because inside a JSON
string every ``"`` is escaped and each document holds only the ``metric`` map, numbers and
strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from typing import Any, Final

import orjson

from hostvitals.shared.catalogue import HOST_LABEL
from hostvitals.shared.protocol import Frame

_BETWEEN_DOCUMENTS: Final = b'},{"metric":'
_BETWEEN_LINES: Final = b'}\n{"metric":'


@dataclass(frozen=True, slots=True)
class ImportLines:
    """The import body for one frame, and what it holds."""

    body: bytes
    series: int
    samples: int


def frame_to_import_lines(frame: Frame) -> ImportLines:
    """One JSON line per series with at least one sample; the ``host`` label comes from the frame.

    Series labels must not hold ``host`` or ``__name__`` (validation guarantees it).
    """
    timestamps = frame.timestamps_ms
    host = frame.host
    documents: list[dict[str, Any]] = []
    append = documents.append
    samples = 0
    for series in frame.series:
        values = series.values
        if None in values:
            present = [v is not None for v in values]
            kept = list(compress(values, present))
            if not kept:
                continue
            ticks = list(compress(timestamps, present))
        else:
            kept = values
            ticks = timestamps
        samples += len(kept)
        append(
            {
                "metric": {"__name__": series.metric, HOST_LABEL: host, **series.labels},
                "values": kept,
                "timestamps": ticks,
            }
        )
    if not documents:
        return ImportLines(b"", 0, 0)
    array = orjson.dumps(documents)
    body = array[1:-1].replace(_BETWEEN_DOCUMENTS, _BETWEEN_LINES) + b"\n"
    return ImportLines(body, len(documents), samples)
