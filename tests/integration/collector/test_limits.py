"""Every validation limit, over HTTP against a real VictoriaMetrics: a clear 4xx naming the
limit, nothing of the refused frame stored, and a good frame from another agent unharmed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.integration.collector.test_ingest_victoriametrics import expected, exported, unique
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

LIMITS = {
    "max_body_bytes": 20_000,
    "max_series_per_frame": 40,
    "max_samples_per_frame": 60,
    "max_label_value_length": 32,
    "max_labels_per_series": 1,
    "max_sample_age_s": 3600,
    "max_future_skew_s": 60,
    "max_series_per_host": 12,
}


def small(host: str, metrics: tuple[str, ...] = ("node_load1",), **kw: Any) -> Frame:
    return catalogue_frame(host, ticks_ending_now(2), metrics=metrics, **kw)


def too_big(host: str) -> Frame:
    # 3,000 ticks: about 27 kB on the wire, over the 20 kB body limit.
    return catalogue_frame(host, ticks_ending_now(3000), metrics=("node_load1",))


def too_many_series(host: str) -> Frame:
    frame = small(host)
    frame.series = [
        Series("node_network_receive_bytes_total", {"device": f"d{i}"}, [1.0, 2.0])
        for i in range(41)
    ]
    return frame


def too_many_samples(host: str) -> Frame:
    ticks = ticks_ending_now(31)
    return catalogue_frame(host, ticks, metrics=("node_load1", "node_load5"))


def long_label(host: str) -> Frame:
    frame = small(host, ("node_network_receive_bytes_total",))
    frame.series = [Series("node_network_receive_bytes_total", {"device": "e" * 33}, [1, 2])]
    return frame


def two_labels(host: str) -> Frame:
    return small(host, ("node_cpu_seconds_total",))


def unknown_metric(host: str) -> Frame:
    frame = small(host)
    frame.series.append(Series("node_made_up_total", {}, [1.0, 2.0]))
    return frame


def too_old(host: str) -> Frame:
    return catalogue_frame(
        host,
        ticks_ending_now(2, end_ms=int(time.time() * 1000) - 7200_000),
        metrics=("node_load1",),
    )


def in_future(host: str) -> Frame:
    return catalogue_frame(
        host, ticks_ending_now(2, end_ms=int(time.time() * 1000) + 600_000), metrics=("node_load1",)
    )


CASES: list[tuple[str, Callable[[str], Frame], int, str]] = [
    ("frame size", too_big, 413, "limit"),
    ("series per frame", too_many_series, 422, "frame has 41 series; the limit is 40"),
    ("samples per frame", too_many_samples, 422, "frame has 62 samples; the limit is 60"),
    ("label value length", long_label, 422, "the limit is 32"),
    ("labels per series", two_labels, 422, "2 labels; the limit is 1"),
    ("catalogue", unknown_metric, 422, "unknown metric 'node_made_up_total'"),
    ("too old", too_old, 422, "is too old"),
    ("too far in the future", in_future, 422, "too far in the future"),
]


@pytest.mark.parametrize(("what", "build", "status", "message"), CASES, ids=[c[0] for c in CASES])
async def test_each_limit_gives_a_clear_4xx_and_spares_good_frames(
    victoria_metrics: VictoriaMetrics,
    what: str,
    build: Callable[[str], Frame],
    status: int,
    message: str,
) -> None:
    bad_host, good_host = unique("limit-bad"), unique("limit-good")
    bad = build(bad_host)
    good = small(good_host, agent_id="good-agent")
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url}, limits=LIMITS, tiers={"rollups": []}
    )
    async with serving(app_settings) as (_app, client):
        refused, accepted = await asyncio.gather(
            client.post("/api/v1/ingest", content=encode_frame(bad), headers=msgpack_headers()),
            client.post("/api/v1/ingest", content=encode_frame(good), headers=msgpack_headers()),
        )
    assert refused.status_code == status, (what, refused.text)
    assert message in refused.json()["error"], refused.json()
    assert accepted.status_code == 204
    assert exported(victoria_metrics, bad_host) == {}
    assert exported(victoria_metrics, good_host) == expected(good)


async def test_series_per_agent_is_bounded_across_frames(victoria_metrics: VictoriaMetrics) -> None:
    host = unique("limit-agent")
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url}, limits=LIMITS, tiers={"rollups": []}
    )

    def frame(seq: int, first: int) -> Frame:
        return Frame(
            agent_id="churny",
            host=host,
            seq=seq,
            sent_at_ms=0,
            interval_s=1,
            timestamps_ms=ticks_ending_now(1),
            series=[
                Series("node_network_receive_bytes_total", {"device": f"veth{i}"}, [1.0])
                for i in range(first, first + 8)
            ],
        )

    async with serving(app_settings) as (_app, client):
        ok = await client.post(
            "/api/v1/ingest", content=encode_frame(frame(1, 0)), headers=msgpack_headers()
        )
        assert ok.status_code == 204
        # 8 known + 8 new > 12: refused as a whole.
        over = await client.post(
            "/api/v1/ingest", content=encode_frame(frame(2, 8)), headers=msgpack_headers()
        )
        assert over.status_code == 422
        assert "16 series in use; the limit is 12" in over.json()["error"]
        # The same 8 series again are fine.
        again = await client.post(
            "/api/v1/ingest", content=encode_frame(frame(3, 0)), headers=msgpack_headers()
        )
        assert again.status_code == 204
    assert len(exported(victoria_metrics, host)) == 8
