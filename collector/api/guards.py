"""Query guards in front of VictoriaMetrics: a turn per client (:mod:`..query.gate`), the
server's cap on how long a query runs, the cap on points a range query asks for, and the caps
on the series and bytes of an answer (:mod:`..vm.answers`), which are answered 422.

The client is the principal's credential, or its address when it has none of its own (see
:func:`~hostvitals.collector.access.requestlimits.credential_key`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode

from fastapi import Request

from hostvitals.collector.access.requestlimits import client_address, credential_key
from hostvitals.collector.access.roles import SCOPE_KEY
from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.gate import QueryGate, QueryRefused
from hostvitals.collector.query.timeparse import TimeRangeError, parse_step, parse_time
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.vm.answers import AnswerLimits
from hostvitals.collector.vm.errors import AnswerRefused

RETRY_AFTER_S = "1"


def client_of(request: Request) -> str:
    return (
        credential_key(request.scope.get(SCOPE_KEY)) or f"address:{client_address(request.scope)}"
    )


@asynccontextmanager
async def query_turn(request: Request) -> AsyncIterator[None]:
    """Hold one of the client's query turns; 429 (its share is taken) or 503 (every slot is)
    with ``Retry-After`` when none comes within the queue timeout."""
    gate: QueryGate | None = getattr(request.app.state, "query_gate", None)
    if gate is None:
        yield
        return
    try:
        async with gate.turn(client_of(request)):
            yield
    except QueryRefused as exc:
        status = 429 if exc.reason == "client" else 503
        kind = "rate_limited" if exc.reason == "client" else "unavailable"
        raise ApiError(status, kind, str(exc), headers={"Retry-After": RETRY_AFTER_S}) from None


def capped_timeout(
    params: list[tuple[str, str]], form: bytes | None, max_s: float
) -> tuple[list[tuple[str, str]], bytes | None, float]:
    """The parameters and form without the client's ``timeout``, and the timeout to send:
    the client's when it is shorter than ``max_s``, else ``max_s``. 400 for a bad one."""
    fields = list(params)
    if form is not None:
        fields += parse_qsl(form.decode("latin-1"), keep_blank_values=True)
    timeout_s = max_s
    for name, value in fields:
        if name == "timeout":
            try:
                timeout_s = min(timeout_s, parse_step(value, "timeout"))
            except TimeRangeError as exc:
                raise ApiError(400, "bad_data", str(exc)) from None
    kept = [(k, v) for k, v in params if k != "timeout"]
    return kept, _without(form, "timeout"), timeout_s


def _without(form: bytes | None, name: str) -> bytes | None:
    """A form body without the parameter ``name``."""
    if form is None or name.encode("latin-1") not in form:
        return form
    pairs = parse_qsl(form.decode("latin-1"), keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k != name]).encode("latin-1")


def capped_limit(
    params: list[tuple[str, str]], form: bytes | None, max_series: int
) -> tuple[list[tuple[str, str]], bytes | None]:
    """The parameters and form with VictoriaMetrics' ``limit`` (``series``, ``labels``,
    ``label/<name>/values``) set so that it stops one past ``max_series``: the client's own
    ``limit`` when it is a number from 1 to ``max_series``, else ``max_series + 1``, so an
    answer of more than ``max_series`` shows it. A ``limit`` that is not a number is left as
    it is, for VictoriaMetrics to answer (400)."""
    fields = list(params)
    if form is not None:
        fields += parse_qsl(form.decode("latin-1"), keep_blank_values=True)
    limit = max_series + 1
    for name, value in fields:
        if name == "limit":
            try:
                asked = int(value)
            except ValueError:
                return params, form
            if 0 < asked <= max_series:
                limit = min(limit, asked)
    kept = [(k, v) for k, v in params if k != "limit"]
    kept.append(("limit", str(limit)))
    return kept, _without(form, "limit")


def check_points(fields: list[tuple[str, str]], max_points: int) -> None:
    """422 when a range query's (end - start) / step is more than ``max_points`` per series.
    Missing or malformed values are left to VictoriaMetrics to answer."""
    values = dict(fields)
    try:
        start = parse_time(values["start"], "start")
        end = parse_time(values["end"], "end")
        step = parse_step(values["step"], "step")
    except (KeyError, TimeRangeError):
        return
    points = math.floor((end - start) / step) + 1
    if points > max_points:
        raise ApiError(
            422,
            "bad_data",
            f"the query asks for {points} points per series, more than {max_points} "
            "(query.max_query_points): use a larger step or a shorter range",
        )


def answer_limits(request: Request) -> AnswerLimits:
    """The series and bytes one answer may hold (``query.max_series``,
    ``query.max_response_bytes``)."""
    query = request.app.state.settings.query
    return AnswerLimits(query.max_series, query.max_response_bytes)


def count_rejected(request: Request, reason: str) -> None:
    """Count a query answered 422 by a guard in ``hostvitals_collector_query_rejected``."""
    metrics: SelfMetrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.query_rejected.labels(reason).inc()


def refused_answer(request: Request, exc: AnswerRefused) -> ApiError:
    """The 422 for an answer over a cap, naming the cap and its setting; counted."""
    count_rejected(request, exc.reason)
    if exc.reason == "too_large":
        return ApiError(
            422,
            "bad_data",
            f"the answer is larger than {exc.limit} bytes (query.max_response_bytes): narrow "
            "the query, or use a larger step or a shorter range",
        )
    if exc.found is not None:
        amount = f"{exc.found} {exc.what}, more than {exc.limit}"
    else:
        amount = f"more than {exc.limit} {exc.what}"
    advice = (
        "narrow the query with label filters, or aggregate it (sum by, topk)"
        if exc.what == "series"
        else "narrow it with match[], start and end"
    )
    return ApiError(422, "bad_data", f"the answer holds {amount} (query.max_series): {advice}")
