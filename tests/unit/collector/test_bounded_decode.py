"""Bounded decoding: msgpack's limits come from the frame limits, a body that decodes into more
than a frame at the limits holds is refused with 413 before it is built, and heavy bodies are
decoded off the event loop."""

from __future__ import annotations

import gzip
import struct
import threading
import tracemalloc
from collections.abc import Callable

import msgpack
import pytest

from hostvitals.collector.config.limits import LimitsSettings
from hostvitals.collector.errors import IngestRejected
from hostvitals.collector.ingest import decoding
from hostvitals.collector.ingest.decoding import BodyDecoder, decode, decode_limits
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame
from tests.support.collector_app import msgpack_headers, running, settings
from tests.support.frames import catalogue_frame, ticks_ending_now

MiB = 1024 * 1024
NIL = b"\xc0"


def array_header(n: int) -> bytes:
    return b"\xdd" + struct.pack(">I", n)


def frame_head(ticks: int, series: int) -> bytes:
    """A frame's map up to its series array's header; the series follow."""
    doc = {"v": 1, "agent": "a", "host": "h", "seq": 1, "sent": 1, "interval": 1.0}
    head = b"\x88" + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in doc.items())
    ts = msgpack.packb("ts") + msgpack.packb(list(range(1, ticks + 1)))
    return head + ts + msgpack.packb("series") + array_header(series)


def nil_array(n: int) -> bytes:
    """The issue's body: one msgpack array of ``n`` nils."""
    return array_header(n) + NIL * n


def nil_series(series: int, ticks: int) -> bytes:
    """A frame's shape with ``series`` series of ``ticks`` nils each."""
    one = b"\x93" + msgpack.packb("node_load1") + b"\x80" + array_header(ticks) + NIL * ticks
    return frame_head(ticks, series) + one * series


def label_maps(series: int) -> bytes:
    """Series whose labels are 16 one-letter entries: many small objects per byte."""
    labels = msgpack.packb({chr(97 + i): chr(97 + i) for i in range(16)})
    one = b"\x93" + msgpack.packb("node_load1") + labels + msgpack.packb([1.0])
    return frame_head(1, series) + one * series


BOMBS: dict[str, Callable[[], bytes]] = {
    "one array of 60M nils": lambda: nil_array(60 * MiB),
    "300 series x 200k nil values": lambda: nil_series(300, 200_000),
    "200k series of 16 labels": lambda: label_maps(200_000),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_body_decoding_into_more_than_a_frame_can_hold_is_refused_before_it_is_built(
    name: str,
) -> None:
    data = BOMBS[name]()
    limits = decode_limits(LimitsSettings())
    tracemalloc.start()
    try:
        with pytest.raises(IngestRejected) as refused:
            decode(data, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    assert refused.value.reason == "decoded_too_large"
    assert "limits.max_series_per_frame" in refused.value.message
    # At most the items of a frame at the limits (8 bytes a reference, small objects shared),
    # far from what the body would build (hundreds of MiB).
    assert peak < 32 * MiB, f"{name}: peaked at {peak / MiB:.0f} MiB"


def test_the_limits_follow_the_frame_limits() -> None:
    limits = decode_limits(
        LimitsSettings(
            max_series_per_frame=100,
            max_samples_per_frame=1000,
            max_values_per_frame=5000,
            max_labels_per_series=4,
            max_label_value_length=300,
        )
    )
    assert limits.max_array_len == 1000
    assert limits.max_map_len == 16
    assert limits.max_str_len == 1200
    assert limits.max_items == 5000 + 1000 + 100 * 4
    assert limits.max_entries == 100 * 4 + 16


def test_msgpack_limits_name_what_was_too_long() -> None:
    limits = decode_limits(LimitsSettings(max_samples_per_frame=10, max_series_per_frame=10))
    with pytest.raises(IngestRejected, match=r"11 exceeds max_array_len\(10\)") as refused:
        decode(nil_array(11), limits)
    assert refused.value.status == 413
    long_text = msgpack.packb("x" * 1025)  # 4 bytes for each of 256 characters at most
    with pytest.raises(IngestRejected, match=r"exceeds max_str_len\(1024\)"):
        decode(long_text, limits)
    with pytest.raises(IngestRejected, match=r"exceeds max_bin_len\(0\)"):
        decode(msgpack.packb(b"binary", use_bin_type=True), limits)


def test_a_good_frame_at_the_limits_still_decodes() -> None:
    limits = LimitsSettings(max_series_per_frame=40, max_samples_per_frame=400)
    good = catalogue_frame("h", ticks_ending_now(10), metrics=None)
    good.series = good.series[:40]
    assert len(good.series) == 40
    assert decode(encode_frame(good), decode_limits(limits)).series == good.series


async def test_a_compressed_bomb_is_decoded_in_a_worker_thread_and_a_small_frame_inline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[bool] = []
    real = decoding.decode_frame

    def recording(data: bytes, limits: object = None) -> Frame:
        threads.append(threading.current_thread() is threading.main_thread())
        return real(data, limits)  # type: ignore[arg-type]

    monkeypatch.setattr(decoding, "decode_frame", recording)
    good = encode_frame(catalogue_frame("inline-host", ticks_ending_now(3)))
    bomb = gzip.compress(nil_array(60 * MiB), 9)  # the body
    assert len(bomb) < 64 * 1024  # small on the wire
    gz = msgpack_headers(**{"Content-Encoding": "gzip"})
    async with running(settings(tiers={"rollups": []})) as (app, client, _vm):
        ok = await client.post("/api/v1/ingest", content=gzip.compress(good), headers=gz)
        refused = await client.post("/api/v1/ingest", content=bomb, headers=gz)
        decoder: BodyDecoder = app.state.pipeline._decoder
        offloaded = decoder.offloaded._value.get()
    assert ok.status_code == 204
    assert refused.status_code == 413, refused.text
    assert "exceeds max_array_len(200000)" in refused.json()["error"]
    assert threads == [True, False]  # the bomb was decoded in a worker thread
    assert offloaded == 1
