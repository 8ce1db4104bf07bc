"""Byte layout of spool records and of the read-position file; pure encoding, no I/O.

A record is a fixed 28-byte header followed by the payload (all integers little-endian)::

    offset  size  field
    0       4     magic b"\\xf3HVR"
    4       4     payload length (u32)
    8       4     weight (u32), supplied by the caller, e.g. the number of samples in the frame
    12      8     append time, seconds since the Unix epoch (f64)
    20      4     CRC-32 of the payload (u32)
    24      4     CRC-32 of header bytes 0..23 (u32)

The header checksum lets a reader tell a real header from payload bytes that happen to contain
the magic, so after damage it can resynchronise on the next intact record.

A read-position record is 28 bytes (the position file is a log of them, see ``position``)::

    0   4  magic b"HVSM"
    4   2  format version (u16, currently 1)
    6   2  reserved, zero
    8   8  segment index (u64)
    16  8  byte offset in that segment of the oldest unacknowledged record (u64)
    24  4  CRC-32 of bytes 0..23 (u32)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xf3HVR"
HEADER_SIZE = 28
MAX_WEIGHT = 2**32 - 1
MAX_PAYLOAD = 2**32 - 1

_HEAD = struct.Struct("<4sIIdI")
_U32 = struct.Struct("<I")

POSITION_MAGIC = b"HVSM"
POSITION_VERSION = 1
POSITION_SIZE = 28
_POSITION = struct.Struct("<4sHHQQ")
MAX_INDEX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Header:
    """The decoded fields of a record header whose own checksum is valid."""

    length: int
    weight: int
    appended_at: float
    payload_crc: int


def encode_record(payload: bytes, weight: int, appended_at: float) -> bytes:
    """Return header and payload as one byte string, ready to be written."""
    head = _HEAD.pack(MAGIC, len(payload), weight, appended_at, zlib.crc32(payload))
    return head + _U32.pack(zlib.crc32(head)) + payload


def decode_header(data: bytes | memoryview) -> Header | None:
    """Decode a 28-byte header; None when the magic or the header checksum is wrong."""
    if len(data) < HEADER_SIZE:
        return None
    magic, length, weight, appended_at, payload_crc = _HEAD.unpack_from(data)
    if magic != MAGIC:
        return None
    (header_crc,) = _U32.unpack_from(data, _HEAD.size)
    if zlib.crc32(data[: _HEAD.size]) != header_crc:
        return None
    return Header(length, weight, appended_at, payload_crc)


def payload_matches(header: Header, payload: bytes | memoryview) -> bool:
    """Whether the payload has the length and checksum the header announces."""
    return len(payload) == header.length and zlib.crc32(payload) == header.payload_crc


def encode_position(segment: int, offset: int) -> bytes:
    """Encode the read position (segment index, byte offset) with its checksum."""
    body = _POSITION.pack(POSITION_MAGIC, POSITION_VERSION, 0, segment, offset)
    return body + _U32.pack(zlib.crc32(body))


def decode_position(data: bytes) -> tuple[int, int] | None:
    """Decode a read position; None for anything that is not an intact version-1 record."""
    if len(data) != POSITION_SIZE:
        return None
    magic, version, reserved, segment, offset = _POSITION.unpack_from(data)
    (crc,) = _U32.unpack_from(data, _POSITION.size)
    if magic != POSITION_MAGIC or version != POSITION_VERSION or reserved != 0:
        return None
    if zlib.crc32(data[: _POSITION.size]) != crc:
        return None
    return segment, offset
