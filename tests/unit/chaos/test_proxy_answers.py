"""The proxy reads the collector's answers from the byte stream it forwards."""

from __future__ import annotations

from hostvitals.chaos.proxy import Answers, ResponseReader


def test_status_codes_across_chunks_and_bodies() -> None:
    answers = Answers()
    reader = ResponseReader(answers)
    stream = (
        b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n"
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-length: 5\r\n\r\nbusy!"
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 3\r\n\r\nHTTP"
    )
    for i in range(0, len(stream), 7):  # arbitrary chunking
        reader.feed(stream[i : i + 7])
    assert dict(answers.codes) == {204: 1, 503: 2, 500: 1}
    assert dict(answers.without_retry_after) == {503: 1}
    assert answers.unparsed == 0


def test_a_stream_it_cannot_follow_is_counted_not_guessed() -> None:
    answers = Answers()
    reader = ResponseReader(answers)
    reader.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nHTTP/1.1 500 x\r\n")
    reader.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    assert dict(answers.codes) == {200: 1}
    assert answers.unparsed == 1


def test_since_subtracts_an_earlier_snapshot() -> None:
    answers = Answers()
    answers.codes[204] += 2
    before = answers.snapshot()
    answers.codes[204] += 1
    answers.codes[503] += 4
    assert dict(answers.since(before).codes) == {204: 1, 503: 4}
