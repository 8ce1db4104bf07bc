"""Load averages (``node_load1``, ``node_load5``, ``node_load15``)."""

from __future__ import annotations

import os
from collections.abc import Callable

import psutil

from hostvitals.agent.samplers.base import NO_LABELS, Row


def rows_from_loadavg(load: tuple[float, float, float]) -> list[Row]:
    one, five, fifteen = load
    return [
        ("node_load1", NO_LABELS, float(one)),
        ("node_load5", NO_LABELS, float(five)),
        ("node_load15", NO_LABELS, float(fifteen)),
    ]


def read_loadavg(
    primary: Callable[[], tuple[float, float, float]] | None = None,
    fallback: Callable[[], tuple[float, float, float]] = os.getloadavg,
) -> tuple[float, float, float]:
    """``psutil.getloadavg()``, or ``os.getloadavg()`` where psutil cannot provide it."""
    read = primary if primary is not None else getattr(psutil, "getloadavg", None)
    if read is not None:
        try:
            return read()
        except (OSError, NotImplementedError, RuntimeError):
            pass
    return fallback()


class LoadSampler:
    name = "load"

    def collect(self) -> list[Row]:
        return rows_from_loadavg(read_loadavg())
