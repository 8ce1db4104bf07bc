"""The status policy table, Retry-After parsing and body encodings."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
import zstandard

from hostvitals.agent.delivery import (
    Action,
    classify,
    compressor,
    parse_retry_after,
    plaintext_credential_urls,
)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, Action.DONE),
        (202, Action.DONE),
        (204, Action.DONE),
        (400, Action.DROP),
        (413, Action.DROP),
        (415, Action.DROP),
        (422, Action.DROP),
        (401, Action.AUTH),
        (403, Action.AUTH),
        (429, Action.THROTTLED),
        (503, Action.THROTTLED),
        (404, Action.RETRY),
        (408, Action.RETRY),
        (500, Action.RETRY),
        (502, Action.RETRY),
        (504, Action.RETRY),
        (301, Action.RETRY),
        (100, Action.RETRY),
    ],
)
def test_status_policy(status: int, action: Action) -> None:
    assert classify(status) is action


NOW = datetime(2025, 11, 24, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Mon, 24 Nov 2025 12:00:30 GMT", 30.0),
        ("Monday, 24-Nov-25 12:01:00 GMT", 60.0),  # RFC 850, still allowed by RFC 9110
        ("Mon Nov 24 12:00:05 2025", 5.0),  # asctime
        ("Mon, 24 Nov 2025 11:00:00 GMT", 0.0),  # in the past
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("٣", None),  # a non-ASCII digit is not delta-seconds
        ("Mon, 99 Nov 2025 12:00:30 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_compressors_round_trip() -> None:
    data = b"hostvitals " * 1000
    name, compress = compressor("zstd")
    assert name == "zstd" and compress is not None
    assert zstandard.ZstdDecompressor().decompress(compress(data)) == data
    name, compress = compressor("gzip")
    assert name == "gzip" and compress is not None
    assert gzip.decompress(compress(data)) == data
    assert compressor("none") == (None, None)
    with pytest.raises(ValueError, match="unknown compression"):
        compressor("brotli")


def test_zstd_falls_back_to_gzip_without_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hostvitals.agent.delivery.zstd_available", lambda: False)
    name, compress = compressor("zstd")
    assert name == "gzip" and compress is not None
    assert gzip.decompress(compress(b"x")) == b"x"


@pytest.mark.parametrize(
    ("url", "token", "exposed"),
    [
        ("http://collector.example:8000", "t", True),
        ("http://10.0.0.5:8000", "t", True),
        ("http://[fd00::1]:8000", "t", True),
        ("http://127.0.0.1:8000", "t", False),
        ("http://[::1]:8000", "t", False),
        ("http://localhost:8000", "t", False),
        ("https://collector.example", "t", False),
        ("http://collector.example:8000", None, False),
    ],
)
def test_a_token_over_plain_http_to_a_remote_address_is_found(
    url: str, token: str | None, exposed: bool
) -> None:
    assert plaintext_credential_urls([url], token) == ([url] if exposed else [])
