"""Read an ingest request's body within limits, and undo its Content-Encoding within limits.

A body larger than the limit is refused before it is read when Content-Length says so, and
while it streams otherwise. Decompression produces output in bounded steps and stops as soon
as the output passes its own limit, so a small compressed bomb costs a bounded amount of
memory and is answered with 413.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import AsyncIterable, Callable
from typing import Final

import zstandard

from hostvitals.collector.errors import IngestRejected
from hostvitals.shared.protocol import CONTENT_TYPE

ZSTD: Final = "zstd"
GZIP: Final = "gzip"
IDENTITY: Final = "identity"
SUPPORTED_ENCODINGS: Final = (ZSTD, GZIP, IDENTITY)
_ALIASES: Final = {"": IDENTITY, IDENTITY: IDENTITY, ZSTD: ZSTD, GZIP: GZIP, "x-gzip": GZIP}

# zstd can expand 4 input bytes into a 128 KiB block; feeding input in steps sized by the
# output budget keeps each step's output near that budget.
_ZSTD_MAX_RATIO: Final = 32 * 1024
_ZSTD_MAX_WINDOW: Final = 16 * 1024 * 1024
_per_thread = threading.local()
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_STEP: Final = 256 * 1024


def check_content_type(content_type: str | None) -> None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != CONTENT_TYPE:
        got = f"'{content_type}'" if content_type else "none"
        raise IngestRejected(
            415,
            "unsupported_media_type",
            f"Content-Type must be {CONTENT_TYPE}, got {got}",
        )


def parse_encoding(content_encoding: str | None) -> str:
    """The normalised Content-Encoding: one of zstd, gzip, identity."""
    name = (content_encoding or "").strip().lower()
    encoding = _ALIASES.get(name)
    if encoding is None:
        raise IngestRejected(
            415,
            "unsupported_encoding",
            f"unsupported Content-Encoding '{content_encoding}'; "
            f"supported: {', '.join(SUPPORTED_ENCODINGS)}",
        )
    return encoding


def check_content_length(content_length: str | None, limit: int) -> None:
    if content_length is None:
        return
    try:
        length = int(content_length)
    except ValueError:
        length = -1
    if length < 0:
        raise IngestRejected(
            400, "bad_request", f"Content-Length '{content_length}' is not a byte count"
        )
    if length > limit:
        raise _too_large(f"body of {length} bytes is over the limit of {limit} bytes")


async def read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """Join the streamed chunks, refusing as soon as more than ``limit`` bytes arrived."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(f"body is over the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decompress(data: bytes, encoding: str, limit: int) -> bytes:
    """Undo ``encoding``; 413 past ``limit`` output bytes, 400 for corrupt or truncated data.

    The output grows in one buffer (a ``bytearray``, returned as is when decompressed), so a
    body near the limit costs the limit once, not once in pieces and again joined."""
    if encoding == IDENTITY:
        return data
    if encoding == ZSTD:
        whole = _zstd_one_shot(data, limit)
        if whole is not None:
            return whole
        return _inflate(data, limit, "zstd", _zstd_member)
    if encoding == GZIP:
        return _inflate(data, limit, "gzip", _gzip_member)
    raise ValueError(f"unknown encoding {encoding!r}")


def _inflate(
    data: bytes,
    limit: int,
    name: str,
    member: Callable[[memoryview, int, bytearray], int],
) -> bytes:
    """Decode concatenated members (frames) until the input is used up."""
    if not data:
        raise IngestRejected(400, "bad_compression", f"empty {name} body")
    view = memoryview(data)
    out = bytearray()
    while view:
        used = member(view, limit - len(out), out)
        view = view[used:]
    return out  # type: ignore[return-value]  # bytes-like, read only from here on


def _zstd_decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor. Making one per frame allocated its context afresh each
    time, which was most of the decompression's CPU (with ``MALLOC_TRIM_THRESHOLD_`` set, as
    the ingest benchmark does, glibc maps and unmaps a block that large on every
    allocation). A decompressor must not be used by two threads at once."""
    found: zstandard.ZstdDecompressor | None = getattr(_per_thread, "zstd", None)
    if found is None:
        found = _per_thread.zstd = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
    return found


def _zstd_one_shot(data: bytes, limit: int) -> bytes | None:
    """``data`` decoded in one call when it is a single zstd frame whose header records a
    content size within ``limit``, as the agent's frames do; None for anything else (no size
    recorded, too large, several frames, corrupt), which :func:`_zstd_member` then decodes
    or refuses with the reason.

    Why: python-zstandard gives up the interpreter lock for every call, and the streaming
    decoder takes its input in steps small enough that no step can pass the budget (64 bytes
    for an inline body): a 5 KiB frame took about 80 calls, and on the event loop each call
    risked waiting for the lock while another thread ran Python code. One call decodes into
    a buffer of the recorded size, which bounds the output whatever the frame holds (zstd
    stops with "destination buffer is too small" when a frame holds more than it records).
    """
    try:
        size = zstandard.frame_content_size(data)
    except zstandard.ZstdError:
        return None
    if size < 0 or size > limit:  # not recorded (-1), or past the limit: the streaming way
        return None
    try:
        return _zstd_decompressor().decompress(data, allow_extra_data=False)
    except zstandard.ZstdError:
        return None


def _zstd_member(data: memoryview, budget: int, out: bytearray) -> int:
    """Decode one zstd frame from the start of ``data`` onto ``out``; returns the input used."""
    dobj = _zstd_decompressor().decompressobj()  # resets the decompressor's context
    produced = 0
    pos = 0
    try:
        while pos < len(data) and not dobj.eof:
            step = max(64, (budget - produced) // _ZSTD_MAX_RATIO + 1)
            chunk = dobj.decompress(data[pos : pos + step])
            pos += step
            produced += len(chunk)
            if produced > budget:
                raise _bomb(budget)
            out += chunk
    except zstandard.ZstdError as exc:
        raise IngestRejected(400, "bad_compression", f"corrupt zstd data: {exc}") from None
    if not dobj.eof:
        raise IngestRejected(400, "bad_compression", "truncated zstd data")
    return min(pos, len(data)) - len(dobj.unused_data)


def _gzip_member(data: memoryview, budget: int, out: bytearray) -> int:
    """Decode one gzip member from the start of ``data`` onto ``out``; returns the input used."""
    dobj = zlib.decompressobj(_GZIP_WBITS)
    produced = 0
    pos = 0
    pending = b""
    try:
        while not dobj.eof:
            if not pending and pos < len(data):
                pending = bytes(data[pos : pos + _STEP])
                pos += len(pending)
            # Called with no new input too: a back-reference may still have output to give.
            chunk = dobj.decompress(pending, min(_STEP, budget - produced + 1))
            pending = dobj.unconsumed_tail
            produced += len(chunk)
            if produced > budget:
                raise _bomb(budget)
            out += chunk
            if not chunk and not pending and pos >= len(data):
                break
    except zlib.error as exc:
        raise IngestRejected(400, "bad_compression", f"corrupt gzip data: {exc}") from None
    if not dobj.eof:
        raise IngestRejected(400, "bad_compression", "truncated gzip data")
    # At the end of a member, zlib reports the input it did not use as unused_data.
    return pos - len(dobj.unused_data)


def _too_large(message: str) -> IngestRejected:
    return IngestRejected(413, "body_too_large", message)


def _bomb(limit: int) -> IngestRejected:
    return IngestRejected(
        413, "decompressed_too_large", f"decompressed body is over the limit of {limit} bytes"
    )
