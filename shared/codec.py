"""Encode frames to msgpack bytes and decode them back, checking the frame's shape.

Decoding is strict about shape (types, lengths, ordering, finite numbers) and leaves policy
(which metrics exist, time windows, size limits) to the receiver.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import msgpack

from hostvitals.shared.errors import DecodeError, SchemaError, TooLargeError, VersionError
from hostvitals.shared.protocol import (
    K_AGENT,
    K_HOST,
    K_INTERVAL,
    K_SENT,
    K_SEQ,
    K_SERIES,
    K_TIMESTAMPS,
    K_VERSION,
    MAX_INTERVAL_S,
    MAX_SEQ,
    SUPPORTED_VERSIONS,
    Frame,
    Series,
    Value,
)

AGENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_HOST_LEN = 253


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Bounds on what decoding one body may build, checked as it is built.

    msgpack checks the first three against each header before it allocates anything. The
    budgets are spent as each array (its elements) or map (its entries) is completed, and
    decoding stops once one is spent: what a body costs in memory is then at most about
    ``max_items`` references and ``max_entries`` map entries, plus one array or map, whatever
    its compression ratio. (A map entry costs several times an array element, so they have a
    budget of their own.)
    """

    max_array_len: int
    max_map_len: int
    max_str_len: int
    """In bytes (UTF-8)."""
    max_items: int
    """Array elements in the whole document."""
    max_entries: int
    """Map entries in the whole document."""


class _OverBudget(Exception):
    """Raised inside msgpack's hooks: the item budget is spent."""


def encode_frame(frame: Frame) -> bytes:
    """Serialise a frame into its wire form."""
    doc = {
        K_VERSION: frame.version,
        K_AGENT: frame.agent_id,
        K_HOST: frame.host,
        K_SEQ: frame.seq,
        K_SENT: frame.sent_at_ms,
        K_INTERVAL: frame.interval_s,
        K_TIMESTAMPS: frame.timestamps_ms,
        K_SERIES: [[s.metric, s.labels, s.values] for s in frame.series],
    }
    return msgpack.packb(doc, use_bin_type=True)  # type: ignore[no-any-return]


def decode_frame(data: bytes, limits: DecodeLimits | None = None) -> Frame:
    """Parse and shape-check a frame.

    Raises DecodeError (not msgpack), TooLargeError (past ``limits``), VersionError (unknown
    version) or SchemaError. Without ``limits`` msgpack bounds every array, map and string by
    ``len(data)`` only, which the caller bounds.
    """
    try:
        doc = _unpack(data, limits)
    except _OverBudget as exc:
        raise TooLargeError(f"body holds more than {exc} once decoded") from None
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise DecodeError(f"body is not a single msgpack document: {exc}") from exc
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        # Truncated input raises ValueError, invalid UTF-8 in a str raises UnicodeDecodeError.
        if limits is not None and "exceeds max_" in str(exc):  # msgpack's own limits
            raise TooLargeError(f"body is too large once decoded: {exc}") from None
        raise DecodeError(f"body is not valid msgpack: {exc}") from exc
    return frame_from_document(doc)


def _unpack(data: bytes, limits: DecodeLimits | None) -> Any:
    if limits is None:
        return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    items, entries = limits.max_items, limits.max_entries

    def spend_items(array: list[Any]) -> list[Any]:
        nonlocal items
        items -= len(array)
        if items < 0:
            raise _OverBudget(f"{limits.max_items} array elements")
        return array

    def spend_entries(mapping: dict[Any, Any]) -> dict[Any, Any]:
        nonlocal entries
        entries -= len(mapping)
        if entries < 0:
            raise _OverBudget(f"{limits.max_entries} map entries")
        return mapping

    return msgpack.unpackb(
        data,
        raw=False,
        use_list=True,
        strict_map_key=True,
        max_array_len=limits.max_array_len,
        max_map_len=limits.max_map_len,
        max_str_len=limits.max_str_len,
        max_bin_len=0,  # a frame has no binary or extension values
        max_ext_len=0,
        list_hook=spend_items,
        object_hook=spend_entries,
    )


def frame_from_document(doc: Any) -> Frame:
    """Check a decoded msgpack document and turn it into a Frame."""
    if not isinstance(doc, dict):
        raise SchemaError("", f"a frame must be a map, got {_type_name(doc)}")
    version = doc.get(K_VERSION)
    if version is None:
        raise SchemaError(K_VERSION, "missing protocol version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise VersionError(version, SUPPORTED_VERSIONS)

    agent_id = _required(doc, K_AGENT, str)
    if not AGENT_ID_RE.fullmatch(agent_id):
        raise SchemaError(
            K_AGENT,
            "must be 1-64 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit",
        )
    host = _required(doc, K_HOST, str)
    if not host or len(host) > MAX_HOST_LEN or _CONTROL_RE.search(host):
        raise SchemaError(K_HOST, f"must be 1-{MAX_HOST_LEN} printable characters")
    seq = _required(doc, K_SEQ, int)
    if not 0 <= seq <= MAX_SEQ:
        raise SchemaError(K_SEQ, f"must be between 0 and {MAX_SEQ}")
    sent = _required(doc, K_SENT, int)
    if sent < 0:
        raise SchemaError(K_SENT, "must not be negative")
    interval = _required(doc, K_INTERVAL, (int, float))
    if not (math.isfinite(interval) and 0 < interval <= MAX_INTERVAL_S):
        raise SchemaError(K_INTERVAL, f"must be a number of seconds in (0, {MAX_INTERVAL_S:g}]")

    timestamps = _required(doc, K_TIMESTAMPS, list)
    if not timestamps:
        raise SchemaError(K_TIMESTAMPS, "must hold at least one tick")
    prev = -1
    for i, ts in enumerate(timestamps):
        if type(ts) is not int or ts < 0:
            raise SchemaError(f"{K_TIMESTAMPS}[{i}]", "must be a non-negative integer (ms)")
        if ts <= prev:
            raise SchemaError(f"{K_TIMESTAMPS}[{i}]", "ticks must be strictly increasing")
        prev = ts

    raw_series = _required(doc, K_SERIES, list)
    width = len(timestamps)
    series = [_series(i, item, width) for i, item in enumerate(raw_series)]
    return Frame(
        agent_id=agent_id,
        host=host,
        seq=seq,
        sent_at_ms=sent,
        interval_s=float(interval),
        timestamps_ms=timestamps,
        series=series,
        version=version,
    )


def _series(index: int, item: Any, width: int) -> Series:
    # The error paths ("series[i]...") are formatted only for an error: formatting one for
    # every series of every frame was a tenth of decoding.
    if not isinstance(item, list) or len(item) != 3:
        raise SchemaError(_at(index), "must be a list of [metric, labels, values]")
    metric, labels, values = item
    if type(metric) is not str or not metric:
        raise SchemaError(f"{_at(index)}.metric", "must be a non-empty string")
    if not isinstance(labels, dict):
        raise SchemaError(f"{_at(index)}.labels", f"must be a map, got {_type_name(labels)}")
    for name, value in labels.items():
        if type(value) is not str:
            raise SchemaError(f"{_at(index)}.labels.{name}", "label values must be strings")
    if not isinstance(values, list):
        raise SchemaError(f"{_at(index)}.values", f"must be a list, got {_type_name(values)}")
    if len(values) != width:
        raise SchemaError(
            f"{_at(index)}.values", f"has {len(values)} values for {width} ticks; they must match"
        )
    _check_values(index, values)
    return Series(metric, labels, values)


def _at(index: int) -> str:
    return f"{K_SERIES}[{index}]"


def _check_values(index: int, values: list[Value]) -> None:
    isfinite = math.isfinite
    for i, v in enumerate(values):
        t = type(v)
        if t is float:
            if not isfinite(v):  # type: ignore[arg-type]
                raise SchemaError(
                    f"{_at(index)}.values[{i}]", f"value {v!r} is not a finite number"
                )
        elif t is not int and v is not None:
            raise SchemaError(
                f"{_at(index)}.values[{i}]", f"must be a number or nil, got {_type_name(v)}"
            )


def _required(doc: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in doc:
        raise SchemaError(key, "missing")
    value = doc[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int subclass; a frame never means True when it says a number.
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise SchemaError(key, f"must be {expected}, got {_type_name(value)}")
    return value


def _type_name(value: object) -> str:
    return {dict: "map", list: "list", str: "string", bytes: "binary", type(None): "nil"}.get(
        type(value), type(value).__name__
    )
