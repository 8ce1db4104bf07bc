"""History API: one metric family of one host (or of every host) over a time range.

``GET /api/v1/metrics/{family}?host=&start=&end=&step=`` with family one of cpu, memory, disk,
network. Each series in the answer has a ``name`` saying what the line is, its ``labels``
(always ``host``, plus ``cpu``, ``mode``, ``device``, ``mountpoint``... as the line needs) and
its ``points`` as ``[unix_seconds, value]`` pairs, one per step. Points where the value is
undefined (NaN, division by zero) are left out. ``start`` is rounded down and ``end`` up to a
whole multiple of ``step`` (as VictoriaMetrics does for its own cache), and the answer says which
window it covers: every screen showing the same range within one step asks the same question and
shares one answer from the query cache (``query.cache_ttl_s``; ``nocache=1`` skips it).

The answer comes from the finest retention tier whose retention still reaches ``start``
(``resolution=raw|1m|5m|1h`` forces one); ``data.tier`` names it and ``data.resolution_s``
gives its resolution (0 for raw samples). The step is at least that resolution.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.cache import Answer, QueryCache
from hostvitals.collector.query.queries import (
    DEFAULT_SAMPLE_INTERVAL_S,
    FAMILIES,
    NamedQuery,
    family_queries,
)
from hostvitals.collector.query.timeparse import TimeRangeError, parse_range
from hostvitals.collector.rollups.tiers import RAW, Tier, UnknownTier, choose
from hostvitals.collector.vm.errors import BackendError, BackendUnavailable
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.shared.codec import MAX_HOST_LEN

ONLY_RAW = Tier(RAW, "", 0, 2**62)

router = APIRouter(prefix="/api/v1", tags=["history"])


class QueryLimits(Protocol):
    """What the history API needs from the collector's settings (``settings.query``)."""

    @property
    def default_range_s(self) -> int: ...
    @property
    def max_points(self) -> int: ...
    @property
    def default_points(self) -> int: ...


def backend_error(exc: BackendError) -> ApiError:
    """The answer for a VictoriaMetrics failure: 503 unreachable, 400 rejected query, 502 else."""
    if exc.status is not None:  # it answered, with an error status
        if 400 <= exc.status < 500:
            return ApiError(400, "bad_data", exc.message)
        if exc.status == 503:
            return ApiError(503, "unavailable", f"VictoriaMetrics is busy: {exc.message}")
        return ApiError(502, "bad_gateway", f"VictoriaMetrics failed: {exc.message}")
    if isinstance(exc, BackendUnavailable):
        return ApiError(503, "unavailable", exc.message)
    return ApiError(502, "bad_gateway", exc.message)


def json_response(payload: object) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


@router.get("/metrics/{family}")
async def family_history(
    request: Request,
    family: str,
    host: str | None = None,
    start: str | None = None,
    end: str | None = None,
    step: str | None = None,
    resolution: str | None = None,
    nocache: bool = False,
) -> Response:
    """Series of one family over ``[start, end]``, one point per ``step``.

    ``start``/``end``: Unix seconds or RFC 3339 (default: the last ``default_range_s``);
    ``step``: seconds or a duration such as ``15s`` (default: about ``default_points`` points);
    ``resolution``: ``auto`` (default) or a tier name, ``raw``, ``1m``, ``5m``, ``1h``;
    ``nocache``: ``1`` to compute the answer afresh instead of taking it from the query cache.
    """
    if family not in FAMILIES:
        raise ApiError(
            400,
            "bad_data",
            f"unknown metric family {family!r}; valid families: {', '.join(FAMILIES)}",
        )
    if host is not None and not 0 < len(host) <= MAX_HOST_LEN:
        raise ApiError(
            400,
            "bad_data",
            f"invalid host: a host name has 1-{MAX_HOST_LEN} characters; omit host for every host",
        )
    return await tiered_range(
        request,
        ("family", family, host),
        lambda step, interval: family_queries(family, host, step, interval),
        start=start,
        end=end,
        step=step,
        resolution=resolution,
        nocache=nocache,
        extra={"family": family},
    )


QueryBuilder = Callable[[float, float], Sequence[NamedQuery]]
"""The named queries of an answer for a step and a sample interval (seconds)."""


async def tiered_range(
    request: Request,
    key: tuple[object, ...],
    build: QueryBuilder,
    *,
    start: str | None,
    end: str | None,
    step: str | None,
    resolution: str | None,
    nocache: bool,
    extra: dict[str, object],
) -> Response:
    """A history answer: the range parsed, the tier chosen, the window widened to whole
    steps, the queries sent together, and the answer kept in the query cache under ``key``
    plus the tier and window. ``extra`` fields go into ``data`` beside the window and tier."""
    limits: QueryLimits = request.app.state.settings.query
    now = time.time()
    try:
        span = parse_range(
            start,
            end,
            step,
            now=now,
            default_range_s=limits.default_range_s,
            default_points=limits.default_points,
            max_points=limits.max_points,
        )
    except TimeRangeError as exc:
        raise ApiError(400, "bad_data", str(exc)) from None

    # An app without retention tiers answers everything from its one VictoriaMetrics.
    storage = getattr(request.app.state, "storage", None)
    tiers = storage.tiers if storage is not None else (ONLY_RAW,)
    try:
        chosen = choose(tiers, span.start, span.step, now, resolution)
    except UnknownTier as exc:
        raise ApiError(400, "bad_data", str(exc)) from None
    tier = chosen.tier
    reader: VictoriaMetricsReader = (
        request.app.state.reader if storage is None or tier.is_raw else storage.readers[tier.name]
    )
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
        try:
            results = await asyncio.gather(
                *(
                    run_in_threadpool(reader.query_range, named.expr, start_s, end_s, query_step)
                    for named in named_queries
                )
            )
        except BackendError as exc:
            raise backend_error(exc) from None
        series: list[dict[str, object]] = []
        for named, found in zip(named_queries, results, strict=True):
            for one in sorted(found, key=lambda s: sorted(s.labels.items())):
                if not one.points:
                    continue
                labels = {k: v for k, v in one.labels.items() if k != "__name__"}
                series.append({"name": named.name, "labels": labels, "points": one.points})
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

    cache: QueryCache = request.app.state.query_cache
    full_key = (*key, tier.name, start_s, end_s, query_step)
    answer = await cache.get(full_key, compute, bypass=nocache)
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)
