"""Query turns (collector/query/gate.py) and the Prometheus API's guards
(collector/api/guards.py): shares per client, the server's timeout cap, the points cap, the
``limit`` sent for the series cap."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from hostvitals.collector.api.guards import capped_limit, capped_timeout, check_points
from hostvitals.collector.errors import ApiError
from hostvitals.collector.query.gate import QueryGate, QueryRefused


async def test_a_client_over_its_share_is_refused_and_others_get_in() -> None:
    gate = QueryGate(per_client=1, total=4, queue_timeout_s=0.0, registry=CollectorRegistry())
    async with gate.turn("heavy"):
        with pytest.raises(QueryRefused) as refused:
            async with gate.turn("heavy"):
                pass
        assert refused.value.reason == "client"
        async with gate.turn("other"):
            pass
    assert gate.refused.labels("client")._value.get() == 1
    assert len(gate) == 0  # nobody left: the shares are let go


async def test_every_slot_taken_is_busy() -> None:
    gate = QueryGate(per_client=2, total=2, queue_timeout_s=0.0, registry=CollectorRegistry())
    async with gate.turn("a"), gate.turn("b"):
        with pytest.raises(QueryRefused) as refused:
            async with gate.turn("c"):
                pass
    assert refused.value.reason == "busy"


async def test_a_waiting_query_gets_the_turn_that_is_given_back() -> None:
    gate = QueryGate(per_client=1, total=1, queue_timeout_s=60.0, registry=CollectorRegistry())
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with gate.turn("a"):
            order.append("first")
            await release.wait()

    async def second() -> None:
        async with gate.turn("a"):
            order.append("second")

    task = asyncio.create_task(first())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert order == ["first"]
    assert gate.waiting._value.get() == 1
    release.set()
    await asyncio.gather(task, waiting)
    assert order == ["first", "second"]


def test_the_client_timeout_can_only_lower_the_cap() -> None:
    params, form, timeout = capped_timeout([("query", "up"), ("timeout", "1h")], None, 10.0)
    assert params == [("query", "up")] and form is None and timeout == 10.0
    _params, _form, timeout = capped_timeout([("timeout", "2s")], None, 10.0)
    assert timeout == 2.0
    params, form, timeout = capped_timeout([], b"query=up&timeout=500", 10.0)
    assert form == b"query=up" and timeout == 10.0
    _params, _form, timeout = capped_timeout([], None, 10.0)
    assert timeout == 10.0


def test_a_bad_timeout_is_400() -> None:
    with pytest.raises(ApiError) as error:
        capped_timeout([("timeout", "soon")], None, 10.0)
    assert error.value.status == 400


def test_too_many_points_is_422() -> None:
    fields = [("start", "0"), ("end", "3600"), ("step", "1s")]
    check_points(fields, 3601)
    with pytest.raises(ApiError) as error:
        check_points(fields, 3600)
    assert error.value.status == 422
    assert "3601 points" in str(error.value)
    check_points([("start", "0"), ("step", "1")], 1)  # incomplete: VictoriaMetrics answers


def test_victoria_metrics_is_asked_for_one_past_the_series_cap() -> None:
    params, form = capped_limit([("match[]", "up")], None, 100)
    assert params == [("match[]", "up"), ("limit", "101")] and form is None
    # The client's own limit when it is lower; a larger one, 0 or below gets the cap's.
    for asked, sent in (("5", "5"), ("100", "100"), ("101", "101"), ("5000", "101"), ("0", "101")):
        params, _form = capped_limit([("limit", asked)], None, 100)
        assert params == [("limit", sent)], asked
    params, form = capped_limit([], b"match%5B%5D=up&limit=7", 100)
    assert params == [("limit", "7")] and form == b"match%5B%5D=up"
    # Not a number: left for VictoriaMetrics to answer.
    assert capped_limit([("limit", "many")], None, 100) == ([("limit", "many")], None)
