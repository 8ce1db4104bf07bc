"""The reader shares one answer among identical range queries sent at the same time.

Answered by a mock transport that holds its answers until the test releases them, so the
callers are known to overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from hostvitals.collector.vm.errors import BackendRejected
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.collector.vm.transport import MockTransport, Request, Response

CALLERS = 8


class _Backend:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.queries: list[str] = []
        self.arrived = threading.Condition(self.lock)

    def answer(self, request: Request) -> Response:
        assert isinstance(request.data, dict)
        query = request.data["query"]
        with self.arrived:
            self.queries.append(query)
            self.arrived.notify_all()
        self.release.wait(10)
        body: dict[str, object]
        if query == "bad(":
            status = 400
            body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
        else:
            status = 200
            result = [{"metric": {"q": query}, "values": [[1, "1.5"], [2, "2.5"]]}]
            body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return Response(status, orjson.dumps(body), "application/json")


@pytest.fixture
def backend() -> Iterator[tuple[_Backend, VictoriaMetricsReader]]:
    state = _Backend()
    reader = VictoriaMetricsReader("http://vm.test:8428", 10, MockTransport(state.answer))
    try:
        yield state, reader
    finally:
        state.release.set()


def _wait_for(state: _Backend, count: int) -> None:
    with state.arrived:
        assert state.arrived.wait_for(lambda: len(state.queries) >= count, timeout=10)


def _call_all(reader: VictoriaMetricsReader, state: _Backend, queries: list[str]) -> list[object]:
    with ThreadPoolExecutor(len(queries)) as pool:
        futures = [pool.submit(reader.query_range, q, 0.0, 60.0, 15.0) for q in queries]
        _wait_for(state, len(set(queries)))
        # The first copy of each query is held by the transport; give the other callers, all
        # started by now, time to reach the reader and wait for it.
        assert all(f.running() for f in futures)
        threading.Event().wait(0.3)
        state.release.set()
        results: list[object] = []
        for future in futures:
            try:
                results.append(future.result(10))
            except BackendRejected as exc:
                results.append(exc)
        return results


def test_identical_concurrent_range_queries_send_one_request(
    backend: tuple[_Backend, VictoriaMetricsReader],
) -> None:
    state, reader = backend
    results = _call_all(reader, state, ["up"] * CALLERS)
    assert state.queries == ["up"]
    first = results[0]
    assert isinstance(first, list)
    assert [s.labels for s in first] == [{"q": "up"}]
    assert [s.points for s in first] == [[(1.0, 1.5), (2.0, 2.5)]]
    assert all(r == first for r in results)


def test_different_queries_are_each_sent(
    backend: tuple[_Backend, VictoriaMetricsReader],
) -> None:
    state, reader = backend
    results = _call_all(reader, state, ["a", "b", "a", "b"])
    assert sorted(state.queries) == ["a", "b"]
    labels = [[s.labels["q"] for s in r] for r in results if isinstance(r, list)]
    assert labels == [["a"], ["b"], ["a"], ["b"]]


def test_an_error_reaches_every_waiting_caller(
    backend: tuple[_Backend, VictoriaMetricsReader],
) -> None:
    state, reader = backend
    results = _call_all(reader, state, ["bad("] * 4)
    assert state.queries == ["bad("]
    assert all(isinstance(r, BackendRejected) and r.message == "parse error" for r in results)


def test_a_query_after_the_first_answered_is_sent_again(
    backend: tuple[_Backend, VictoriaMetricsReader],
) -> None:
    state, reader = backend
    state.release.set()
    reader.query_range("up", 0.0, 60.0, 15.0)
    reader.query_range("up", 0.0, 60.0, 15.0)
    assert state.queries == ["up", "up"]
