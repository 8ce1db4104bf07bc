"""History API: one metric family of one host (or of every host) over a time range.

``GET /api/v1/metrics/{family}?host=&start=&end=&step=`` with family one of cpu, memory, disk,
network, pressure, system, sensors, cgroups. Each series in the answer has a ``name`` saying
what the line is, its ``labels`` (always ``host``, plus ``cpu``, ``mode``, ``device``,
``mountpoint``, ``chip``, ``name``... as the line needs) and its ``points`` as ``[unix_seconds,
value]`` pairs, one per step. Points where the value is undefined (NaN, division by zero) are
left out. ``start`` is rounded down and ``end`` up to a whole multiple of ``step`` (as
VictoriaMetrics does for its own cache), and the answer says which window it covers: every
screen showing the same range within one step asks the same question and shares one answer from
the query cache (``query.cache_ttl_s``; ``nocache=1`` skips it).

The answer comes from the finest retention tier whose retention still reaches ``start``
(``resolution=raw|1m|5m|1h`` forces one); ``data.tier`` names it and ``data.resolution_s`` gives
its resolution (0 for raw samples). The step is at least that resolution.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from hostvitals.collector.api.history import history_answer
from hostvitals.collector.api.params import RangeParams, range_params
from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.queries import FAMILIES, family_queries
from hostvitals.shared.codec import MAX_HOST_LEN

router = APIRouter(prefix="/api/v1", tags=["history"])


# The dependencies are coroutines: FastAPI runs a plain function in a worker thread, and the
# hop there and back cost more than the check (under load, several times the whole answer).
async def known_family(family: str) -> str:
    if family not in FAMILIES:
        raise ApiError(
            400,
            "bad_data",
            f"unknown metric family {family!r}; valid families: {', '.join(FAMILIES)}",
        )
    return family


async def valid_host(host: str | None = None) -> str | None:
    if host is not None and not 0 < len(host) <= MAX_HOST_LEN:
        raise ApiError(
            400,
            "bad_data",
            f"invalid host: a host name has 1-{MAX_HOST_LEN} characters; omit host for every host",
        )
    return host


@router.get("/metrics/{family}")
async def family_history(
    request: Request,
    # Checked in this order: the family, the host, then the range.
    family: Annotated[str, Depends(known_family)],
    host: Annotated[str | None, Depends(valid_host)],
    asked: Annotated[RangeParams, Depends(range_params)],
) -> Response:
    """Series of one family over ``[start, end]``, one point per ``step``.

    ``start``/``end``: Unix seconds or RFC 3339 (default: the last ``default_range_s``);
    ``step``: seconds or a duration such as ``15s`` (default: about ``default_points`` points);
    ``resolution``: ``auto`` (default) or a tier name, ``raw``, ``1m``, ``5m``, ``1h``;
    ``nocache``: ``1`` to compute the answer afresh instead of taking it from the query cache.
    """
    return await history_answer(
        request,
        asked,
        ("family", family, host),
        lambda step, interval: family_queries(family, host, step, interval),
        {"family": family},
    )
