"""The hostvitals collector: receives frames from agents, writes them to VictoriaMetrics,
keeps a live view of every host, and answers queries."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def collector_version() -> str:
    """The installed package version, or ``0+unknown`` when running from a bare checkout."""
    try:
        return version("hostvitals")
    except PackageNotFoundError:
        return "0+unknown"
