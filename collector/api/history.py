"""History answers over HTTP: the planning of :mod:`hostvitals.collector.query.planning`
read from this app's tiers, with its failures as API errors."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from fastapi import Request, Response

from hostvitals.collector.api.guards import answer_limits, query_turn, refused_answer
from hostvitals.collector.api.params import RangeParams
from hostvitals.collector.api.responses import backend_error
from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.cache import QueryCache
from hostvitals.collector.query.planning import QueryBuilder, Sources, tiered_range
from hostvitals.collector.rollups.tiers import UnknownTier
from hostvitals.collector.vm.errors import AnswerRefused, BackendError


def sources(request: Request) -> Sources:
    """The app's tiers and their readers; an app without retention tiers answers everything
    from its one VictoriaMetrics."""
    storage = getattr(request.app.state, "storage", None)
    if storage is None:
        return Sources(request.app.state.reader)
    return Sources(request.app.state.reader, storage.tiers, storage.readers)


async def history_answer(
    request: Request,
    asked: RangeParams,
    key: tuple[Hashable, ...],
    build: QueryBuilder,
    extra: Mapping[str, object],
) -> Response:
    """The answer of :func:`~hostvitals.collector.query.planning.tiered_range` as a response:
    400 for an unknown resolution, 422 when one of its queries returns more than
    ``query.max_series`` series or ``query.max_response_bytes`` bytes, VictoriaMetrics'
    failures as :func:`backend_error` says."""
    cache: QueryCache = request.app.state.query_cache
    try:
        async with query_turn(request):
            answer = await tiered_range(
                sources(request),
                cache,
                asked.span,
                asked.now,
                key,
                build,
                resolution=asked.resolution,
                nocache=asked.nocache,
                extra=extra,
                limits=answer_limits(request),
            )
    except UnknownTier as exc:
        raise ApiError(400, "bad_data", str(exc)) from None
    except AnswerRefused as exc:
        raise refused_answer(request, exc) from None
    except BackendError as exc:
        raise backend_error(exc) from None
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)
