"""Memory and swap: the ``node_memory_*`` gauges and swap-in/out byte counters.

On Linux the gauges come straight from ``/proc/meminfo``, like node_exporter, because psutil
folds ``SReclaimable`` into ``cached`` and node_exporter's ``Cached`` is the raw field.
Elsewhere they come from ``psutil.virtual_memory()`` and ``psutil.swap_memory()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from hostvitals.agent.samplers.base import NO_LABELS, Row

MEMINFO_FIELDS: tuple[str, ...] = (
    "MemTotal",
    "MemAvailable",
    "MemFree",
    "Buffers",
    "Cached",
    "Shmem",
    "SwapTotal",
    "SwapFree",
)

# psutil attribute -> /proc/meminfo field, for platforms without /proc/meminfo.
_VIRTUAL_FIELDS: tuple[tuple[str, str], ...] = (
    ("total", "MemTotal"),
    ("available", "MemAvailable"),
    ("free", "MemFree"),
    ("buffers", "Buffers"),
    ("cached", "Cached"),
    ("shared", "Shmem"),
)
_UNITS = {"": 1, "kB": 1024}


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per field; lines that do not parse are ignored."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        unit = parts[1] if len(parts) > 1 else ""
        scale = _UNITS.get(unit)
        if scale is not None:
            out[key.strip()] = int(parts[0]) * scale
    return out


def rows_from_meminfo(info: Mapping[str, int]) -> list[Row]:
    return [
        (f"node_memory_{field}_bytes", NO_LABELS, info[field])
        for field in MEMINFO_FIELDS
        if field in info
    ]


def rows_from_psutil(virtual: Any, swap: Any) -> list[Row]:
    """The gauges from psutil's named tuples, skipping fields this platform lacks."""
    info: dict[str, int] = {}
    for attr, field in _VIRTUAL_FIELDS:
        value = getattr(virtual, attr, None)
        if value is not None:
            info[field] = int(value)
    for attr, field in (("total", "SwapTotal"), ("free", "SwapFree")):
        value = getattr(swap, attr, None)
        if value is not None:
            info[field] = int(value)
    return rows_from_meminfo(info)


def rows_from_swap_io(swap: Any) -> list[Row]:
    rows: list[Row] = []
    for attr, metric in (
        ("sin", "hostvitals_swap_in_bytes_total"),
        ("sout", "hostvitals_swap_out_bytes_total"),
    ):
        value = getattr(swap, attr, None)
        if value is not None:
            rows.append((metric, NO_LABELS, int(value)))
    return rows


class MemorySampler:
    name = "memory"

    def __init__(self, meminfo_path: Path = Path("/proc/meminfo")) -> None:
        self._meminfo_path = meminfo_path
        self._use_meminfo = meminfo_path.exists()

    def collect(self) -> list[Row]:
        swap = psutil.swap_memory()
        if self._use_meminfo:
            rows = rows_from_meminfo(parse_meminfo(self._meminfo_path.read_text()))
        else:
            rows = rows_from_psutil(psutil.virtual_memory(), swap)
        return rows + rows_from_swap_io(swap)
