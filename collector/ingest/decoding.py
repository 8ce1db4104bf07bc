"""Bounded decoding of an ingest body: decompression and msgpack within limits derived from the
configured frame limits, off the event loop when the body may be heavy.

What decoding may build is set before anything is allocated (:func:`decode_limits`): msgpack
refuses an array longer than a frame can need (its series, or its ticks), a map larger than a
label set, a string longer than a label value or host name, any binary or extension value;
and the whole document may hold only as many array elements and map entries as a frame at
the limits has. A body that decompresses into more is refused with 413 as soon as the
budget is spent, so its cost is about that of the largest acceptable frame, whatever its
compression ratio.

Event loop: a body that is small on the wire and stays small once decompressed (up to
``inline_bytes``) is decoded in place; that takes well under a millisecond. Any other body,
compressed bombs included, is decoded in a worker thread, at most ``threads`` at once. The
decoder's hooks run Python code between arrays, so a worker thread gives the event loop the
interpreter back within the switch interval, even while it decodes a hostile body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TypeVar

from prometheus_client import CollectorRegistry, Counter

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest import body
from hostvitals.shared.codec import MAX_HOST_LEN, DecodeLimits, decode_frame
from hostvitals.shared.errors import DecodeError, SchemaError, TooLargeError, VersionError
from hostvitals.shared.protocol import Frame

T = TypeVar("T")

OFFLOAD_BYTES: Final = 64 * 1024
"""Bodies larger than this on the wire are decoded in a worker thread."""
INLINE_BYTES: Final = 256 * 1024
"""Bodies decompressing into more than this are decoded in a worker thread."""
FRAME_KEYS: Final = 16
"""Room for the keys of a frame's top-level map (8 today)."""
_UTF8_MAX: Final = 4


class NeedsThread(Exception):
    """Raised by an inline decode: the body is bigger than an inline decode may handle."""


def decode_limits(limits: LimitsSettings) -> DecodeLimits:
    """What decoding a body may build, from the frame limits: a frame's arrays are its ticks
    (one tick carries at least one sample), its series, each series' three fields and its
    values (one per tick); its maps are the frame itself and each series' labels."""
    ticks = limits.max_samples_per_frame
    series = limits.max_series_per_frame
    labels = limits.max_labels_per_series
    return DecodeLimits(
        max_array_len=max(ticks, series),
        max_map_len=max(labels, FRAME_KEYS),
        max_str_len=_UTF8_MAX * max(limits.max_label_value_length, MAX_HOST_LEN),
        max_items=limits.max_values_per_frame + ticks + series * 4,
        max_entries=series * labels + FRAME_KEYS,
    )


def decode(data: bytes, limits: DecodeLimits | None = None) -> Frame:
    """``decode_frame`` with its errors turned into HTTP answers (400, 413, 400, 422)."""
    try:
        return decode_frame(data, limits)
    except TooLargeError as exc:
        raise IngestRejected(
            413,
            "decoded_too_large",
            f"{exc}; the decoder's limits follow limits.max_series_per_frame, "
            "max_samples_per_frame, max_values_per_frame, max_labels_per_series and "
            "max_label_value_length",
        ) from None
    except DecodeError as exc:
        raise IngestRejected(400, "bad_msgpack", str(exc)) from None
    except VersionError as exc:
        raise IngestRejected(400, "unsupported_version", str(exc)) from None
    except SchemaError as exc:
        raise IngestRejected(422, "bad_schema", f"invalid frame: {exc}") from None


class BodyDecoder:
    def __init__(
        self,
        limits: LimitsSettings,
        *,
        threads: int = 2,
        inline_bytes: int = INLINE_BYTES,
        offload_bytes: int = OFFLOAD_BYTES,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._limits = limits
        self._decode_limits = decode_limits(limits)
        self._inline = min(inline_bytes, limits.max_decompressed_bytes)
        self._offload = offload_bytes
        self._threads = asyncio.Semaphore(threads)
        self.offloaded = Counter(
            "hostvitals_collector_ingest_offloaded_decodes",
            "Ingest bodies decoded in a worker thread, because they were large on the wire or "
            "once decompressed.",
            registry=registry,
        )

    def decode(self, raw: bytes, encoding: str, *, inline: bool) -> Frame:
        """Decompress and decode ``raw``; ``inline``: raise NeedsThread rather than decompress
        past ``inline_bytes``."""
        limit = self._limits.max_decompressed_bytes
        if inline and self._inline < limit:
            try:
                data = body.decompress(raw, encoding, self._inline)
            except IngestRejected as exc:
                if exc.reason == "decompressed_too_large":
                    raise NeedsThread from None
                raise
        else:
            data = body.decompress(raw, encoding, limit)
        return decode(data, self._decode_limits)

    async def run(self, size: int, work: Callable[[bool], T]) -> tuple[T, bool]:
        """``work(inline)`` for a body of ``size`` bytes on the wire: in place when it is
        small and ``work(True)`` does not raise NeedsThread, else in a worker thread; and
        whether it ran in a worker thread."""
        if size <= self._offload:
            try:
                return work(True), False
            except NeedsThread:
                pass
        self.offloaded.inc()
        async with self._threads:
            return await asyncio.to_thread(work, False), True
