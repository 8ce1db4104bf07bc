"""Retention tiers: which VictoriaMetrics instance holds which resolution for how long.

The raw tier is ``victoriametrics`` (samples as the agents took them); each rollup tier is
its own VictoriaMetrics, a single node or a cluster, holding one sample per series per bucket
(see :mod:`hostvitals.collector.rollups.rollup`). Each tier's
:class:`~hostvitals.collector.vm.endpoints.Endpoints` say where its writes and reads go.
A range query goes to the finest tier whose retention still reaches back to its start, and
its step is raised to at least that tier's resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hostvitals.collector.config.settings import Settings
from hostvitals.collector.vm.endpoints import Endpoints, endpoints_of

RAW: Final = "raw"
DAY_S: Final = 86_400


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    endpoints: Endpoints
    resolution_s: int  # 0 for raw: the agents' own interval
    retention_s: int

    @property
    def is_raw(self) -> bool:
        return self.resolution_s == 0

    @property
    def width_ms(self) -> int:
        return self.resolution_s * 1000

    def buckets(self, first_ms: int, last_ms: int) -> range:
        """Start times (ms) of the buckets holding ticks ``first_ms .. last_ms``."""
        width = self.width_ms
        return range(first_ms // width * width, last_ms + 1, width)


def tiers_from(settings: Settings) -> tuple[Tier, ...]:
    """Raw first, then the rollup tiers from finest to coarsest."""
    cfg, vm = settings.tiers, settings.victoriametrics
    raw = Tier(RAW, endpoints_of(vm, vm), 0, cfg.raw_retention_days * DAY_S)
    rollups = (
        Tier(t.name, endpoints_of(t, vm), t.resolution_s, t.retention_days * DAY_S)
        for t in cfg.rollups
    )
    return (raw, *rollups)


EDGE_MARGIN_S: Final = 300.0


def edge_margin_s(tier: Tier) -> float:
    """How far inside its retention a range must start for ``tier`` to answer it: 5 minutes,
    or a hundredth of a shorter retention.

    The range presets (24 h, 7 d, 30 d, 1 y) equal the shipped retentions, so their starts sit
    on a tier's edge. A page asks for each chart family in its own request, each planned at
    its own ``now``: without a margin, the requests of one range fell on either side of the
    edge by how long each waited, and the charts of one page came from different tiers.
    """
    return min(EDGE_MARGIN_S, tier.retention_s / 100)


class UnknownTier(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Choice:
    tier: Tier
    step: float


def choose(
    tiers: Sequence[Tier], start: float, step: float, now: float, resolution: str | None
) -> Choice:
    """The tier for a range query starting at ``start`` (Unix seconds), and the step to use.

    ``resolution`` names a tier (``raw``, ``1m``...) to force it; None or ``auto`` picks the
    finest tier whose retention covers ``start`` with :func:`edge_margin_s` to spare (the
    coarsest when none does).
    """
    if resolution is not None and resolution != "auto":
        tier = next((t for t in tiers if t.name == resolution), None)
        if tier is None:
            names = ", ".join(["auto", *(t.name for t in tiers)])
            raise UnknownTier(f"unknown resolution {resolution!r}; valid: {names}")
    else:
        tier = next(
            (t for t in tiers if start >= now - t.retention_s + edge_margin_s(t)), tiers[-1]
        )
    return Choice(tier, max(step, float(tier.resolution_s)))
