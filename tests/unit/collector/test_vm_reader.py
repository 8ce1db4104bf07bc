"""The reader over a mock transport: what it sends, what it parses, and its errors as answered."""

from __future__ import annotations

import orjson
import pytest

from hostvitals.collector.api.responses import backend_error
from hostvitals.collector.vm.errors import (
    BackendError,
    BackendMalformed,
    BackendRejected,
    BackendUnavailable,
)
from hostvitals.collector.vm.reader import FORM_CONTENT_TYPE, VictoriaMetricsReader
from hostvitals.collector.vm.transport import MockTransport, Request, Response

URL = "http://vm.test:8428"


def reader(status: int, body: bytes, content_type: str | None = None) -> VictoriaMetricsReader:
    transport = MockTransport(lambda _request: Response(status, body, content_type, "Reason"))
    return VictoriaMetricsReader(URL, 3.0, transport)


def test_a_range_query_is_a_form_post_and_its_matrix_is_parsed() -> None:
    result = [{"metric": {"host": "a"}, "values": [[10, "1.5"], [20, "NaN"], [30, "2"]]}]
    body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    transport = MockTransport(lambda _request: Response(200, orjson.dumps(body)))
    (series,) = VictoriaMetricsReader(URL, 3.0, transport).query_range("up", 0.0, 60.0, 15.0)
    assert (series.labels, series.points) == ({"host": "a"}, [(10.0, 1.5), (30.0, 2.0)])
    (sent,) = transport.requests
    assert (sent.method, sent.url, sent.timeout_s) == ("POST", URL + "/api/v1/query_range", 3.0)
    assert sent.data == {"query": "up", "start": "0.0", "end": "60.0", "step": "15.0"}


def test_forward_passes_the_answer_through() -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(422, b"{}", "application/json; charset=utf-8")

    vm = VictoriaMetricsReader(URL, 3.0, MockTransport(handler))
    params = [("match[]", "a"), ("match[]", "b")]
    assert vm.forward("/api/v1/series", params, "POST", b"x=1") == (
        422,
        b"{}",
        "application/json; charset=utf-8",
    )
    assert (seen[0].params, seen[0].data) == (params, b"x=1")
    assert seen[0].headers == {"Content-Type": FORM_CONTENT_TYPE}
    assert reader(200, b"[]").forward("/api/v1/labels", []) == (200, b"[]", "application/json")


def _failure(status: int, body: bytes) -> BackendError:
    with pytest.raises(BackendError) as caught:
        reader(status, body).query("up")
    return caught.value


def test_errors_follow_the_status_policy_and_carry_victoriametrics_text() -> None:
    rejected = _failure(422, b'{"status":"error","error":"too many series"}')
    assert isinstance(rejected, BackendRejected)
    assert (rejected.status, rejected.message, rejected.url) == (422, "too many series", URL)
    busy = _failure(503, b"busy")
    assert isinstance(busy, BackendUnavailable) and (busy.status, busy.message) == (503, "busy")
    assert _failure(500, b"").message == "Reason"  # no text: the status line's reason
    malformed = _failure(200, b"not json")
    assert isinstance(malformed, BackendMalformed)
    assert malformed.message == f"VictoriaMetrics at {URL} sent an unexpected answer"


def test_no_answer_is_unavailable() -> None:
    def down(request: Request) -> Response:
        raise BackendUnavailable.no_answer(request.base_url, "connection refused")

    with pytest.raises(BackendUnavailable, match=f"^VictoriaMetrics at {URL} is unreachable"):
        VictoriaMetricsReader(URL, 3.0, MockTransport(down)).query("up")


@pytest.mark.parametrize(
    ("error", "answer"),
    [
        (BackendUnavailable.no_answer(URL, "timeout"), (503, "unavailable", f"{URL} is unreach")),
        (BackendRejected("bad query", status=422), (400, "bad_data", "bad query")),
        (BackendUnavailable("slow down", status=429), (400, "bad_data", "slow down")),
        (BackendUnavailable("busy", status=503), (503, "unavailable", "is busy: busy")),
        (BackendUnavailable("oops", status=500), (502, "bad_gateway", "failed: oops")),
        (BackendRejected("moved", status=302), (502, "bad_gateway", "failed: moved")),
        (BackendMalformed("odd answer"), (502, "bad_gateway", "odd answer")),
    ],
)
def test_each_error_is_answered_as_before(
    error: BackendError, answer: tuple[int, str, str]
) -> None:
    api = backend_error(error)
    assert (api.status, api.error_type) == answer[:2]
    assert answer[2] in api.message
