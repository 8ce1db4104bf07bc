"""What every sampler has in common: a name and a ``collect()`` that returns rows.

A row is ``(metric, labels, value)``. Labels are a tuple of ``(name, value)`` pairs so that a
row's ``(metric, labels)`` can key a series directly.
"""

from __future__ import annotations

from typing import Protocol

Labels = tuple[tuple[str, str], ...]
Number = float | int
Row = tuple[str, Labels, Number]

NO_LABELS: Labels = ()


class Sampler(Protocol):
    """One resource (CPU, memory, ...) read once per run.

    ``collect`` runs in a worker thread, never on the event loop; it may block briefly on
    ``/proc`` reads and raises on failure (the registry counts and logs it).
    """

    @property
    def name(self) -> str: ...

    def collect(self) -> list[Row]: ...


def labels(**named: str) -> Labels:
    """A label tuple from keywords, in the order given."""
    return tuple(named.items())
