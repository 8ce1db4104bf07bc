"""Body reading and decompression within limits."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import AsyncIterator, Callable

import pytest
import zstandard

from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest.body import (
    check_content_length,
    check_content_type,
    decompress,
    parse_encoding,
    read_limited,
)

PAYLOAD = os.urandom(20_000) * 3 + bytes(range(256)) * 400

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "gzip": gzip.compress,
}


def status_of(call: Callable[[], object]) -> tuple[int, str, str]:
    with pytest.raises(IngestRejected) as err:
        call()
    return err.value.status, err.value.reason, err.value.message


@pytest.mark.parametrize(
    "value", ["application/x-msgpack", "Application/X-Msgpack", "application/x-msgpack; v=1"]
)
def test_msgpack_content_type_is_accepted(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize("value", [None, "", "application/json", "application/msgpack"])
def test_other_content_types_are_415(value: str | None) -> None:
    assert status_of(lambda: check_content_type(value))[:2] == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "identity"), ("", "identity"), ("ZSTD", "zstd"), ("gzip", "gzip"), ("x-gzip", "gzip")],
)
def test_known_encodings(header: str | None, expected: str) -> None:
    assert parse_encoding(header) == expected


@pytest.mark.parametrize("header", ["br", "deflate", "gzip, zstd"])
def test_unknown_encodings_are_415_naming_the_supported_ones(header: str) -> None:
    status, reason, message = status_of(lambda: parse_encoding(header))
    assert (status, reason) == (415, "unsupported_encoding")
    assert "supported: zstd, gzip, identity" in message


def test_content_length() -> None:
    check_content_length(None, 10)
    check_content_length("10", 10)
    assert status_of(lambda: check_content_length("11", 10))[:2] == (413, "body_too_large")
    assert status_of(lambda: check_content_length("ten", 10))[0] == 400


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_read_limited_joins_chunks_up_to_the_limit() -> None:
    assert await read_limited(_chunks(b"ab", b"", b"cd"), 4) == b"abcd"
    with pytest.raises(IngestRejected) as err:
        await read_limited(_chunks(b"ab", b"cd", b"e"), 4)
    assert err.value.status == 413


@pytest.mark.parametrize("encoding", list(COMPRESSORS))
def test_round_trip(encoding: str) -> None:
    packed = COMPRESSORS[encoding](PAYLOAD)
    assert decompress(packed, encoding, len(PAYLOAD)) == PAYLOAD
    assert decompress(packed + packed, encoding, 2 * len(PAYLOAD)) == PAYLOAD * 2


def test_identity_is_untouched() -> None:
    assert decompress(b"abc", "identity", 1) == b"abc"


@pytest.mark.parametrize("encoding", list(COMPRESSORS))
def test_output_one_byte_over_the_limit_is_413(encoding: str) -> None:
    packed = COMPRESSORS[encoding](PAYLOAD)
    status, reason, _ = status_of(lambda: decompress(packed, encoding, len(PAYLOAD) - 1))
    assert (status, reason) == (413, "decompressed_too_large")


@pytest.mark.parametrize("encoding", list(COMPRESSORS))
def test_bomb_is_stopped_early(encoding: str) -> None:
    # 32 MiB of zeros compress to a few dozen KiB; the limit stops it at 1 MiB.
    zeros = b"\0" * (32 * 1024 * 1024)
    packed = COMPRESSORS[encoding](zeros)
    del zeros
    status, _, message = status_of(lambda: decompress(packed, encoding, 1024 * 1024))
    assert status == 413
    assert "over the limit of 1048576 bytes" in message


@pytest.mark.parametrize("encoding", list(COMPRESSORS))
@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: b[:-4],
        lambda b: b"garbage" + b,
        lambda b: b + b"trailing garbage",
        lambda b: b"",
    ],
    ids=["half", "truncated", "garbage-before", "garbage-after", "empty"],
)
def test_corrupt_data_is_400(encoding: str, damage: Callable[[bytes], bytes]) -> None:
    packed = damage(COMPRESSORS[encoding](PAYLOAD))
    status, reason, message = status_of(lambda: decompress(packed, encoding, 10 * len(PAYLOAD)))
    assert (status, reason) == (400, "bad_compression")
    assert encoding in message


def test_raw_deflate_is_not_gzip() -> None:
    status, _, _ = status_of(lambda: decompress(zlib.compress(PAYLOAD), "gzip", len(PAYLOAD)))
    assert status == 400


def test_a_thread_reuses_one_zstd_decompressor_and_a_failed_body_leaves_nothing_behind() -> None:
    from hostvitals.collector.ingest import body

    one, two = PAYLOAD[:30_000], PAYLOAD[30_000:]
    packed_one, packed_two = (zstandard.ZstdCompressor().compress(p) for p in (one, two))
    assert decompress(packed_one, "zstd", len(PAYLOAD)) == one
    first = body._zstd_decompressor()
    # Cut off mid-frame, over the limit, then garbage: each leaves the context mid-way.
    for broken, limit in ((packed_two[:-4], len(PAYLOAD)), (packed_two, 10), (b"x" * 99, 999)):
        status_of(lambda broken=broken, limit=limit: decompress(broken, "zstd", limit))
        assert decompress(packed_one, "zstd", len(PAYLOAD)) == one
    assert decompress(packed_one + packed_two, "zstd", len(PAYLOAD)) == one + two
    assert body._zstd_decompressor() is first


def test_each_thread_has_its_own_zstd_decompressor() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hostvitals.collector.ingest import body

    packed = zstandard.ZstdCompressor().compress(PAYLOAD)
    mine = body._zstd_decompressor()
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda _: decompress(packed, "zstd", len(PAYLOAD)), range(64)))
        others = set(pool.map(lambda _: id(body._zstd_decompressor()), range(64)))
    assert all(out == PAYLOAD for out in outputs)
    assert id(mine) not in others


def _zstd_recording(data: bytes, recorded: int) -> bytes:
    """A zstd frame of ``data`` whose header records ``recorded`` bytes of content (a two-byte
    content size field, as the compressor writes for 256 to 65,791 bytes)."""
    packed = bytearray(zstandard.ZstdCompressor().compress(data))
    assert zstandard.frame_header_size(bytes(packed)) == 7  # magic, descriptor, 2-byte size
    packed[5:7] = (recorded - 256).to_bytes(2, "little")
    return bytes(packed)


def test_a_zstd_frame_that_records_its_size_decodes_as_one() -> None:
    data = bytes(range(256)) * 20
    assert decompress(_zstd_recording(data, len(data)), "zstd", len(data)) == data


@pytest.mark.parametrize("recorded", [1000, 9000], ids=["fewer", "more"])
def test_a_zstd_frame_recording_a_wrong_size_is_400(recorded: int) -> None:
    data = bytes(range(256)) * 20  # 5,120 bytes
    packed = _zstd_recording(data, recorded)
    status, reason, _ = status_of(lambda: decompress(packed, "zstd", 10 * len(data)))
    assert (status, reason) == (400, "bad_compression")


def test_a_zstd_frame_recording_no_size_is_decoded_within_the_limit() -> None:
    data = bytes(range(256)) * 20
    packed = zstandard.ZstdCompressor(write_content_size=False).compress(data)
    assert zstandard.frame_content_size(packed) == -1
    assert decompress(packed, "zstd", len(data)) == data
    status, reason, _ = status_of(lambda: decompress(packed, "zstd", len(data) - 1))
    assert (status, reason) == (413, "decompressed_too_large")
