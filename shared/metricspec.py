"""What the catalogue says about one metric: its kind, unit, help, labels and group."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Kind
    unit: str
    help: str
    labels: tuple[str, ...] = ()
    group: str = ""


def family(group: str, kind: Kind, unit: str, *entries: tuple[str, str]) -> tuple[MetricSpec, ...]:
    """Unlabelled metrics of one group that share kind and unit, from (name, help) pairs."""
    return tuple(MetricSpec(name, kind, unit, text, (), group) for name, text in entries)
