"""Memory and swap: the ``node_memory_*`` gauges and swap-in/out byte counters.

On Linux the gauges come straight from ``/proc/meminfo``, like node_exporter, because psutil
folds ``SReclaimable`` into ``cached`` and node_exporter's ``Cached`` is the raw field, and the
swap-in/out counters from the ``pswpin``/``pswpout`` pages of ``/proc/vmstat`` beside it
(``psutil.swap_memory()`` read both files again and made a ``sysinfo`` call, two thirds of the
sampler's time). Elsewhere they come from ``psutil.virtual_memory()`` and
``psutil.swap_memory()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

from hostvitals.agent.samplers.base import NO_LABELS, Row
from hostvitals.agent.samplers.paths import read_small

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
SWAP_PAGE_BYTES = 4 * 1024
"""Bytes per swapped page, as psutil counts them (``sin``, ``sout``) on every platform."""
_VMSTAT_SWAP = (("pswpin", "sin"), ("pswpout", "sout"))


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


def swap_io_from_vmstat(text: str) -> dict[str, int]:
    """``sin`` and ``sout`` (bytes swapped in and out) from ``/proc/vmstat``, as psutil's
    ``swap_memory()`` gives them: 0 where the kernel has no such line.

    >>> swap_io_from_vmstat("pgpgin 10\\npswpin 3\\npswpout 5\\npgfault 1\\n")
    {'sin': 12288, 'sout': 20480}
    """
    out = {"sin": 0, "sout": 0}
    lines = "\n" + text  # every line, the first one too, starts after a newline
    for field, attr in _VMSTAT_SWAP:
        at = lines.find(f"\n{field} ")
        if at < 0:
            continue
        start = at + len(field) + 2
        end = lines.find("\n", start)
        value = lines[start : end if end >= 0 else len(lines)].strip()
        if value.isdigit():
            out[attr] = int(value) * SWAP_PAGE_BYTES
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
    """The swap-in/out counters from psutil's ``sswap`` or a mapping with ``sin``/``sout``."""
    if isinstance(swap, Mapping):
        swap = SimpleNamespace(**swap)
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

    def __init__(
        self, meminfo_path: Path = Path("/proc/meminfo"), vmstat_path: Path | None = None
    ) -> None:
        self._meminfo_path = meminfo_path
        self._vmstat_path = vmstat_path or meminfo_path.with_name("vmstat")
        self._use_meminfo = meminfo_path.exists()

    def collect(self) -> list[Row]:
        if not self._use_meminfo:
            swap = psutil.swap_memory()
            return rows_from_psutil(psutil.virtual_memory(), swap) + rows_from_swap_io(swap)
        rows = rows_from_meminfo(parse_meminfo(read_small(self._meminfo_path)))
        try:
            vmstat = read_small(self._vmstat_path)
        except OSError:  # psutil counts nothing swapped then too
            vmstat = ""
        return rows + rows_from_swap_io(swap_io_from_vmstat(vmstat))
