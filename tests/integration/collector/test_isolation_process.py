"""Isolation in the collector process as deployed (uvicorn, a real VictoriaMetrics): bodies
that decompress into huge documents are refused within bounded memory, and 64 live streams
share one computation per tick while frames keep being written."""

from __future__ import annotations

import asyncio
import gzip
import struct
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import msgpack
import orjson
import pytest
import requests

from hostvitals.shared.codec import encode_frame
from tests.support.collector_process import collector_process
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
NIL = b"\xc0"
STREAMS = 64


def rss_kib(pid: int, field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (the peak so far) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux: write 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def nil_series(series: int, ticks: int) -> bytes:
    """A frame's shape whose ``series`` series each hold ``ticks`` nils: it passes msgpack's
    per-array limits, and only the item budget stops it."""
    head = {"v": 1, "agent": "a", "host": "bomb", "seq": 1, "sent": 1, "interval": 1.0}
    out = b"\x88" + b"".join(pack(k) + pack(v) for k, v in head.items())
    out += pack("ts") + pack(list(range(1, ticks + 1)))
    out += pack("series") + b"\xdd" + struct.pack(">I", series)
    one = b"\x93" + pack("node_load1") + b"\x80" + b"\xdd" + struct.pack(">I", ticks)
    return out + (one + NIL * ticks) * series


def pack(value: object) -> bytes:
    return bytes(msgpack.packb(value))


@pytest.fixture
def collector(tmp_path: Path, victoria_metrics: VictoriaMetrics) -> Iterator[tuple[str, int]]:
    env = {
        "HOSTVITALS__STATE__DIR": str(tmp_path / "state"),
        "HOSTVITALS__UI__MAX_STREAMS": str(STREAMS + 8),
        # The 64 dashboards come from one address at once: the stream rate limit (tested on
        # its own) would refuse most of them, and this test is about what they cost.
        "HOSTVITALS__RATE_LIMITS__STREAM_PER_CREDENTIAL_BURST": str(STREAMS + 8),
        "HOSTVITALS__RATE_LIMITS__STREAM_PER_ADDRESS_BURST": str(STREAMS + 8),
    }
    with collector_process(tmp_path, victoria_metrics.url, env) as (base, proc):
        yield base, proc.pid


async def test_amplification_bodies_are_refused_within_bounded_memory(
    collector: tuple[str, int],
) -> None:
    base, pid = collector
    bombs = {
        # The body: 65 KB of gzip, one msgpack array of 60 MiB nils.
        "array": gzip.compress(b"\xdd" + struct.pack(">I", 60 * MiB) + NIL * (60 * MiB), 9),
        # A frame's shape: 300 series of 200,000 nils each (60 MB decoded).
        "series": gzip.compress(nil_series(300, 200_000), 9),
    }
    headers = {"Content-Type": "application/x-msgpack", "Content-Encoding": "gzip"}
    good = encode_frame(catalogue_frame("amplified-neighbour", ticks_ending_now(3)))
    async with aiohttp.ClientSession() as session:
        # Warm up: the first frames allocate what every frame needs.
        async with session.post(
            f"{base}/api/v1/ingest", data=good, headers=headers | {"Content-Encoding": "identity"}
        ) as answer:
            assert answer.status == 204
        before = rss_kib(pid, "VmRSS")
        reset_peak(pid)

        async def send(body: bytes) -> tuple[int, str]:
            async with session.post(f"{base}/api/v1/ingest", data=body, headers=headers) as a:
                return a.status, await a.text()

        answers = await asyncio.gather(*(send(b) for b in bombs.values() for _ in range(4)))
    peak = rss_kib(pid, "VmHWM")
    assert {status for status, _ in answers} == {413}, answers
    assert all("once decoded" in text for _, text in answers), answers
    # Each of the 8 bodies would build 480 MiB of references and more. Refused, decoded at
    # most two at a time, each costs its decompressed bytes (under the 64 MiB limit) and a
    # frame's worth of items: well under 1.5 x the limit each.
    grown = (peak - before) / 1024
    assert grown < 2 * 1.5 * 64, f"RSS grew by {grown:.0f} MiB"


async def test_sixty_four_streams_share_one_computation_per_tick_while_frames_flow(
    collector: tuple[str, int],
) -> None:
    base, _pid = collector
    headers = {"Content-Type": "application/x-msgpack"}
    events: list[list[float]] = [[] for _ in range(STREAMS)]
    ingested: list[int] = []

    async def stream(session: aiohttp.ClientSession, n: int, until: float) -> None:
        loop = asyncio.get_running_loop()
        async with session.get(f"{base}/api/v1/stream") as answer:
            assert answer.status == 200
            async for line in answer.content:
                if line.startswith(b"data: "):
                    events[n].append(orjson.loads(line[6:])["now"])
                if loop.time() >= until:
                    return

    async def ingest(session: aiohttp.ClientSession, until: float) -> None:
        loop = asyncio.get_running_loop()
        seq = 0
        while loop.time() < until:
            seq += 1
            for host in range(20):
                frame = catalogue_frame(f"streamed-{host}", ticks_ending_now(1), seq=seq)
                async with session.post(
                    f"{base}/api/v1/ingest", data=encode_frame(frame), headers=headers
                ) as answer:
                    ingested.append(answer.status)
            await asyncio.sleep(0.25)

    def computed() -> float:
        text = requests.get(f"{base}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith('hostvitals_collector_stream_updates_computed_total{kind="fleet"}'):
                return float(line.split()[-1])
        raise AssertionError("no computation counter")

    start_count = computed()
    connector = aiohttp.TCPConnector(limit=STREAMS + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        loop = asyncio.get_running_loop()
        started = loop.time()
        until = started + 5.0
        await asyncio.gather(
            ingest(session, until), *(stream(session, n, until) for n in range(STREAMS))
        )
        elapsed = loop.time() - started
    fleet_updates = computed() - start_count
    assert set(ingested) == {204}
    assert all(len(times) >= 2 for times in events), [len(t) for t in events]
    # Every event any stream received was computed once for all of them: as many distinct
    # computation times as ticks, not 64 per tick.
    distinct = {t for times in events for t in times}
    ticks = elapsed + 2  # the interval is 1 s; the first and last ticks may be partial
    assert len(distinct) <= ticks, (len(distinct), elapsed)
    assert fleet_updates <= ticks + 1, (fleet_updates, elapsed)
