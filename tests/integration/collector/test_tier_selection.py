"""Range queries pick the finest tier that still covers the range, or the one asked for,
and say which tier answered (real VictoriaMetrics instances for all four tiers)."""

from __future__ import annotations

import time

import orjson
import pytest
import requests

from hostvitals.collector.config.settings import Settings
from tests.conftest import ROLLUP_TIERS
from tests.integration.collector.test_ingest_victoriametrics import unique
from tests.support.collector_app import serving, settings
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

DAY = 86_400
# Each tier holds the host's MemTotal with its own value, at an age only it still covers.
PLACED = {"raw": (1.0, 1800), "1m": (2.0, 3 * DAY), "5m": (3.0, 20 * DAY), "1h": (4.0, 200 * DAY)}


def place(
    vm: VictoriaMetrics,
    host: str,
    value: float,
    age_s: int,
    now: float,
    metric: str = "node_memory_MemTotal_bytes",
) -> None:
    ts = int((now - age_s) * 1000)
    line = {
        "metric": {"__name__": metric, "host": host},
        "values": [value] * 3,
        "timestamps": [ts, ts + 60_000, ts + 120_000],
    }
    answer = requests.post(f"{vm.url}/api/v1/import", data=orjson.dumps(line), timeout=10)
    assert answer.status_code == 204
    vm.flush()


def tiered_settings(raw: VictoriaMetrics, vm_tiers: dict[str, VictoriaMetrics]) -> Settings:
    return settings(
        victoriametrics={"url": raw.url},
        tiers={
            "rollups": [
                {"name": n, "url": vm_tiers[n].url, "resolution_s": r, "retention_days": d}
                for (n, r, _), d in zip(ROLLUP_TIERS, (7, 30, 365), strict=True)
            ],
            "rollup_interval_s": 3600,
        },
    )


@pytest.mark.parametrize(
    ("age_s", "resolution", "tier", "value"),
    [
        (3600, None, "raw", 1.0),
        (3 * DAY + 600, None, "1m", 2.0),
        (20 * DAY + 600, "auto", "5m", 3.0),
        (200 * DAY + 600, None, "1h", 4.0),
        (400 * DAY, None, "1h", None),  # older than every tier: the coarsest answers
        (3 * DAY + 600, "5m", "5m", None),  # forced: that tier holds nothing then
        (20 * DAY + 600, "1m", "1m", None),
    ],
)
async def test_the_finest_covering_tier_answers(
    victoria_metrics: VictoriaMetrics,
    vm_tiers: dict[str, VictoriaMetrics],
    age_s: int,
    resolution: str | None,
    tier: str,
    value: float | None,
) -> None:
    now = time.time()
    host = unique("tier-select")
    instances = {"raw": victoria_metrics, **vm_tiers}
    for name, (placed, placed_age) in PLACED.items():
        place(instances[name], host, placed, placed_age, now)
    app_settings = tiered_settings(victoria_metrics, vm_tiers)
    end = min(now, now - age_s + 4 * 3600)
    params = {"host": host, "start": str(now - age_s), "end": str(end)}
    if resolution is not None:
        params["resolution"] = resolution
    async with serving(app_settings) as (_app, client):
        answer = await client.get("/api/v1/metrics/memory", params=params)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data["tier"] == tier
        resolution_s = {"raw": 0, **{n: r for n, r, _ in ROLLUP_TIERS}}[tier]
        assert data["resolution_s"] == resolution_s
        assert data["step"] >= resolution_s
        totals = [s for s in data["series"] if s["name"] == "memory_total_bytes"]
        values = {v for s in totals for _, v in s["points"]}
        assert values == ({value} if value is not None else set())


async def test_an_unknown_resolution_is_a_400(victoria_metrics: VictoriaMetrics) -> None:
    async with serving(settings(victoriametrics={"url": victoria_metrics.url})) as (_, client):
        answer = await client.get("/api/v1/metrics/cpu", params={"resolution": "10s"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "unknown resolution '10s'; valid: auto, raw, 1m, 5m, 1h"


@pytest.mark.parametrize(("age_s", "tier"), [(3600, "raw"), (20 * DAY + 600, "5m")])
async def test_fleet_history_picks_its_tier_too(
    victoria_metrics: VictoriaMetrics,
    vm_tiers: dict[str, VictoriaMetrics],
    age_s: int,
    tier: str,
) -> None:
    now = time.time()
    host = unique("fleet-tier")
    instances = {"raw": victoria_metrics, **vm_tiers}
    # Memory used is a quarter per tier step: 0.25 in raw, 0.5 in 1m, 0.75 in 5m, 1.0 in 1h.
    for k, (name, (_, placed_age)) in enumerate(PLACED.items(), start=1):
        place(instances[name], host, 8.0, placed_age, now)
        place(instances[name], host, 8.0 - 2 * k, placed_age, now, "node_memory_MemAvailable_bytes")
    params = {"start": str(now - age_s), "end": str(min(now, now - age_s + 4 * 3600))}
    async with serving(tiered_settings(victoria_metrics, vm_tiers)) as (_app, client):
        answer = await client.get("/api/v1/fleet/history", params=params)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["tier"] == tier
    used = [
        s
        for s in data["series"]
        if s["name"] == "memory_used_ratio" and s["labels"]["host"] == host
    ]
    want = {"raw": 0.25, "5m": 0.75}[tier]
    assert {v for s in used for _, v in s["points"]} == {want}
