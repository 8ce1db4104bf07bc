"""Planning a history answer: the retention tier that answers a range, the step and the window
widened to whole steps, the queries sent together, and the answer kept in the query cache."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson
from starlette.concurrency import run_in_threadpool

from hostvitals.collector.query.cache import Answer, QueryCache
from hostvitals.collector.query.queries import DEFAULT_SAMPLE_INTERVAL_S, NamedQuery
from hostvitals.collector.query.timeparse import TimeRange
from hostvitals.collector.rollups.tiers import RAW, Tier, choose
from hostvitals.collector.vm.answers import AnswerLimits
from hostvitals.collector.vm.endpoints import Endpoints
from hostvitals.collector.vm.reader import VictoriaMetricsReader

ONLY_RAW = Tier(RAW, Endpoints.single(""), 0, 2**62)
"""The one tier of a collector without retention tiers: everything from one VictoriaMetrics
(read with the raw reader; the endpoints are not used)."""


class QueryLimits(Protocol):
    """What the history API needs from the collector's settings (``settings.query``)."""

    @property
    def default_range_s(self) -> int: ...
    @property
    def max_points(self) -> int: ...
    @property
    def default_points(self) -> int: ...


QueryBuilder = Callable[[float, float], Sequence[NamedQuery]]
"""The named queries of an answer for a step and a sample interval (seconds)."""


@dataclass(frozen=True, slots=True)
class Sources:
    """Where ranges are read: the tiers, finest first, with the raw tier's reader and the
    rollup tiers' readers by name."""

    raw: VictoriaMetricsReader
    tiers: Sequence[Tier] = (ONLY_RAW,)
    rollups: Mapping[str, VictoriaMetricsReader] = field(default_factory=dict)

    def reader(self, tier: Tier) -> VictoriaMetricsReader:
        return self.raw if tier.is_raw else self.rollups[tier.name]


async def tiered_range(
    sources: Sources,
    cache: QueryCache,
    span: TimeRange,
    now: float,
    key: tuple[Hashable, ...],
    build: QueryBuilder,
    *,
    resolution: str | None,
    nocache: bool,
    extra: Mapping[str, object],
    limits: AnswerLimits | None = None,
) -> Answer:
    """A history answer over ``span``: the tier chosen, the window widened to whole steps, the
    queries sent together, and the answer kept in ``cache`` under ``key`` plus the tier and
    window. ``extra`` fields go into ``data`` beside the window and tier.

    Raises UnknownTier for a ``resolution`` no tier has, BackendError when VictoriaMetrics
    fails, AnswerRefused when a query's answer holds more than ``limits`` allow.
    """
    chosen = choose(sources.tiers, span.start, span.step, now, resolution)
    tier = chosen.tier
    reader = sources.reader(tier)
    query_step = chosen.step
    # Whole steps, as VictoriaMetrics aligns them for its own cache: every screen showing
    # this window within one step asks the same question and shares one answer.
    start_s = math.floor(span.start / query_step) * query_step
    end_s = math.ceil(span.end / query_step) * query_step
    interval = float(tier.resolution_s) if not tier.is_raw else DEFAULT_SAMPLE_INTERVAL_S
    named_queries = build(query_step, interval)

    async def compute() -> Answer:
        # The queries are independent: send them all at once (each in a worker thread, the
        # reader is blocking) so the answer takes as long as the slowest, not their sum.
        results = await asyncio.gather(
            *(
                run_in_threadpool(
                    reader.query_range_json, named.expr, start_s, end_s, query_step, limits
                )
                for named in named_queries
            )
        )
        series: list[dict[str, object]] = []
        for named, found in zip(named_queries, results, strict=True):
            for one in sorted(found, key=lambda s: sorted(s.labels.items())):
                if one.empty:
                    continue
                labels = {k: v for k, v in one.labels.items() if k != "__name__"}
                # The points go into the answer as VictoriaMetrics' JSON, not as objects.
                points = orjson.Fragment(one.points_json)
                series.append({"name": named.name, "labels": labels, "points": points})
        data = {
            **extra,
            "start": start_s,
            "end": end_s,
            "step": query_step,
            "tier": tier.name,
            "resolution_s": tier.resolution_s,
            "series": series,
        }
        return Answer(200, orjson.dumps({"status": "success", "data": data}))

    full_key = (*key, tier.name, start_s, end_s, query_step)
    return await cache.get(full_key, compute, bypass=nocache)
