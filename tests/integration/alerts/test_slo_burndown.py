"""The SLO burn-down endpoint against a real VictoriaMetrics."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.integration.alerts.slo_data import seed_two_percent_errors_last_hour, slo_settings
from tests.support.collector_app import serving
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


async def test_burn_down_follows_the_spent_budget(victoria_metrics: VictoriaMetrics) -> None:
    slo, start, now = seed_two_percent_errors_last_hour(victoria_metrics, "bd")
    app_settings = slo_settings(victoria_metrics, slo, window_s=7 * 86_400)
    async with serving(app_settings) as (_app, client):
        asked = time.time()
        answer = await client.get(f"/api/v1/slos/{slo}/burndown", params={"points": 168})
        answered = time.time()
        assert answer.status_code == 200, answer.text
        doc = answer.json()["data"]
        assert doc["step"] == 3600 and doc["window_s"] == 7 * 86_400
        (ind,) = doc["indicators"]
        assert ind["error"] is None
        line = doc["remaining"]
        assert line == ind["remaining"]
        # The line starts where the data starts (74 h ago), not at the window's start.
        assert line[0][0] >= start and line[0][0] - start < 2 * 3600
        # ...and ends at the moment it was asked for (not the seeding's, a few seconds before
        # on a busy machine), never later.
        assert asked <= doc["end"] <= answered
        assert line[-1][0] <= doc["end"]
        values = [v for _, v in line]
        assert all(a >= b for a, b in itertools.pairwise(values))
        # Untouched until the last hour...
        assert all(v == pytest.approx(1.0) for t, v in line if t < now - 2 * 3600)
        # ...which spent 1,200 of the 4,440 errors that 74 h of 1,000 requests a minute allow.
        assert values[-1] == pytest.approx(1 - 20 / 74, rel=0.03)

        bad = await client.get(f"/api/v1/slos/{slo}/burndown", params={"points": "many"})
        assert bad.status_code == 400 and "points" in bad.json()["error"]
        bad = await client.get(f"/api/v1/slos/{slo}/burndown", params={"points": 1})
        assert bad.status_code == 400
        missing = await client.get("/api/v1/slos/nope/burndown")
        assert missing.status_code == 404 and "nope" in missing.json()["error"]
