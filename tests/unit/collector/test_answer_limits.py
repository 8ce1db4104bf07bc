"""Bounds on VictoriaMetrics' answers to clients' queries (collector/vm/answers.py and the
bounded read of collector/vm/transport.py), on literal answers: the series count chunk by
chunk and whole, the byte cap, and malformed or truncated answers."""

from __future__ import annotations

import time

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostvitals.collector.vm.answers import (
    AnswerLimits,
    SeriesScan,
    check_answer,
    count_items,
    counted_as,
)
from hostvitals.collector.vm.errors import AnswerRefused, BackendMalformed, BackendUnavailable
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from hostvitals.collector.vm.transport import (
    BodyLimit,
    MockTransport,
    Request,
    Response,
    read_bounded,
)

URL = "http://vm.test:8428"


def vector(*labels: dict[str, str]) -> bytes:
    result = [{"metric": m, "value": [1700000000, "1"]} for m in labels]
    return orjson.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def matrix(series: int, points: int = 3) -> bytes:
    values = [[1700000000 + i, str(i / 7)] for i in range(points)]
    result = [{"metric": {"__name__": "m", "i": str(i)}, "values": values} for i in range(series)]
    return orjson.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})


def scanned(body: bytes, cut: int, max_series: int = 1000) -> int:
    scan = SeriesScan(max_series)
    for start in range(0, len(body), cut):
        scan(body[start : start + cut])
    return scan.count


# -- the count as chunks come ----------------------------------------------------------------


def test_the_scan_counts_series_split_anywhere() -> None:
    body = matrix(5)
    for cut in range(1, len(body) + 1):
        assert scanned(body, cut) == 5, cut


def test_the_scan_is_not_fooled_by_labels_that_look_like_series() -> None:
    # A label named "metric", and values holding the mark itself: quotes inside strings are
    # escaped, so neither is counted.
    body = vector(
        {"metric": "x"},
        {"__name__": "m", "v": '"metric":{'},
        {"metric": '{"metric":{"a":"b"}}'},
    )
    for cut in (1, 3, 7, 64):
        assert scanned(body, cut) == 3


label_text = st.text(alphabet=st.sampled_from('metric"{}:\\, ab'), max_size=12)


@given(
    st.lists(st.dictionaries(label_text, label_text, max_size=4), max_size=6),
    st.integers(min_value=1, max_value=40),
)
def test_the_scan_counts_exactly_the_series_of_any_vector(
    labels: list[dict[str, str]], cut: int
) -> None:
    assert scanned(vector(*labels), cut) == len(labels)


def test_the_scan_stops_the_reading_at_the_first_series_past_the_cap() -> None:
    scan = SeriesScan(2)
    body = matrix(3)
    with pytest.raises(AnswerRefused) as refused:
        scan(body)
    assert refused.value.reason == "too_many_series"
    assert refused.value.limit == 2 and refused.value.found is None
    SeriesScan(3)(body)  # at the cap is fine


# -- the whole count, and what is malformed --------------------------------------------------


def test_whole_answers_are_counted_by_their_path() -> None:
    assert count_items("/api/v1/query", vector({"a": "1"}, {"a": "2"}), URL) == 2
    assert count_items("/api/v1/query_range", matrix(4), URL) == 4
    scalar = b'{"status":"success","data":{"resultType":"scalar","result":[1700000000,"2"]}}'
    assert count_items("/api/v1/query", scalar, URL) == 0
    series = b'{"status":"success","data":[{"__name__":"a"},{"__name__":"b","x":"y"}]}'
    assert count_items("/api/v1/series", series, URL) == 2
    names = b'{"status":"success","data":["__name__","host","mode"]}'
    assert count_items("/api/v1/labels", names, URL) == 3
    assert count_items("/api/v1/label/host/values", names, URL) == 3
    # Members VictoriaMetrics may add (isPartial, stats) are no matter.
    extra = b'{"status":"success","isPartial":false,"data":{"resultType":"vector","result":[]}}'
    assert count_items("/api/v1/query", extra, URL) == 0
    assert count_items("/api/v1/metadata", b"not even json", URL) == 0  # not counted


def test_what_is_counted() -> None:
    assert counted_as("/api/v1/query") == counted_as("/api/v1/series") == "series"
    assert counted_as("/api/v1/labels") == "label names"
    assert counted_as("/api/v1/label/__name__/values") == "label values"
    assert counted_as("/api/v1/metadata") is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/query_range", matrix(3)[:-5]),  # cut short
        ("/api/v1/query_range", matrix(3)[:40]),
        ("/api/v1/query", b""),
        ("/api/v1/query", b"<html>bad gateway</html>"),
        ("/api/v1/query", b'{"status":"success","data":{"resultType":"vector"}}'),
        ("/api/v1/query", b'{"status":"success","data":{"resultType":"vector","result":{}}}'),
        ("/api/v1/query", vector({"a": "1"}).replace(b'"1"]', b'"1"')),  # a bracket short
        ("/api/v1/query", vector({"a": "1"}) + b"trailing"),
        ("/api/v1/series", b'{"status":"success","data":{"__name__":"a"}}'),
        ("/api/v1/labels", b'{"status":"success","data":["a",'),
    ],
)
def test_malformed_or_truncated_answers_are_backend_malformed(path: str, body: bytes) -> None:
    with pytest.raises(BackendMalformed) as malformed:
        count_items(path, body, URL)
    assert f"VictoriaMetrics at {URL} sent a malformed answer to {path}" in malformed.value.message
    assert malformed.value.status is None  # answered 502, as a bad gateway


def test_check_answer_refuses_more_series_than_the_cap_with_the_count() -> None:
    limits = AnswerLimits(max_series=3, max_bytes=1 << 20)
    check_answer("/api/v1/query_range", matrix(3), limits, URL)
    with pytest.raises(AnswerRefused) as refused:
        check_answer("/api/v1/query_range", matrix(4), limits, URL)
    assert (refused.value.found, refused.value.what) == (4, "series")
    values = orjson.dumps({"status": "success", "data": ["a", "b", "c", "d"]})
    with pytest.raises(AnswerRefused) as refused:
        check_answer("/api/v1/label/host/values", values, limits, URL)
    assert refused.value.what == "label values"


# -- the bounded read ------------------------------------------------------------------------


def request(timeout_s: float = 10.0) -> Request:
    return Request("GET", URL, "/api/v1/query", timeout_s)


def test_the_read_stops_past_the_byte_cap() -> None:
    chunks = iter([b"a" * 10, b"b" * 10, b"c" * 10])
    limit = BodyLimit(max_bytes=15)
    with pytest.raises(AnswerRefused) as refused:
        read_bounded(chunks, 200, limit, time.monotonic() + 10, request())
    assert refused.value.reason == "too_large" and refused.value.limit == 15
    assert next(chunks) == b"c" * 10  # the rest was never read
    body = read_bounded([b"a" * 10, b"b" * 5], 200, limit, time.monotonic() + 10, request())
    assert body == b"a" * 10 + b"b" * 5


def test_only_a_success_is_watched() -> None:
    seen: list[bytes] = []
    limit = BodyLimit(max_bytes=100, watch=seen.append)
    read_bounded([b"error"], 422, limit, time.monotonic() + 10, request())
    assert seen == []
    read_bounded([b"ok"], 200, limit, time.monotonic() + 10, request())
    assert seen == [b"ok"]


def test_an_answer_not_whole_by_the_deadline_is_unavailable() -> None:
    with pytest.raises(BackendUnavailable) as late:
        read_bounded([b"a", b"b"], 200, BodyLimit(100), time.monotonic() - 1, request(3))
    assert late.value.message == f"VictoriaMetrics at {URL} did not finish its answer within 3s"


# -- the reader with limits ------------------------------------------------------------------


def reader_answering(status: int, body: bytes) -> VictoriaMetricsReader:
    return VictoriaMetricsReader(URL, 10, MockTransport(lambda _r: Response(status, body)))


def test_forward_refuses_an_answer_over_the_limits() -> None:
    limits = AnswerLimits(max_series=2, max_bytes=1 << 20)
    reader = reader_answering(200, vector({"a": "1"}, {"a": "2"}, {"a": "3"}))
    with pytest.raises(AnswerRefused) as refused:
        reader.forward("/api/v1/query", [("query", "up")], limits=limits)
    assert refused.value.found is None  # stopped by the scan, before the end
    big = reader_answering(200, matrix(2, points=5000))  # about 300 kB
    with pytest.raises(AnswerRefused) as refused:
        big.forward("/api/v1/query_range", [], limits=AnswerLimits(10, 64 * 1024))
    assert refused.value.reason == "too_large"
    # Without limits (the collector's own queries) the same answers go through.
    status, _body, _type = reader.forward("/api/v1/query", [("query", "up")])
    assert status == 200


def test_forward_passes_errors_as_they_are_and_refuses_a_malformed_success() -> None:
    limits = AnswerLimits(max_series=2, max_bytes=1 << 20)
    error = b'{"status":"error","errorType":"bad_data","error":"parse error"}'
    status, body, _type = reader_answering(400, error).forward("/api/v1/query", [], limits=limits)
    assert (status, body) == (400, error)
    with pytest.raises(BackendMalformed):
        reader_answering(200, matrix(2)[:-3]).forward("/api/v1/query_range", [], limits=limits)


def test_query_range_refuses_more_series_than_the_cap() -> None:
    reader = reader_answering(200, matrix(3))
    assert len(reader.query_range("m", 0, 60, 15, AnswerLimits(3, 1 << 20))) == 3
    with pytest.raises(AnswerRefused) as refused:
        reader.query_range("m", 0, 60, 15, AnswerLimits(2, 1 << 20))
    assert refused.value.reason == "too_many_series"
