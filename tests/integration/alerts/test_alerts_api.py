"""The alerts API in-process against a real VictoriaMetrics: Prometheus formats, silences,
SLO reports computed from real series."""

from __future__ import annotations

import pytest

from tests.integration.alerts.slo_data import seed_two_percent_errors_last_hour, slo_settings
from tests.support.collector_app import serving
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


async def test_rules_alerts_silences_and_slo_report(victoria_metrics: VictoriaMetrics) -> None:
    slo, _start, now = seed_two_percent_errors_last_hour(victoria_metrics, "api")

    app_settings = slo_settings(victoria_metrics, slo)
    async with serving(app_settings) as (app, client):
        engine = app.state.alerts
        await engine.evaluate_slos(float(now))
        await engine.evaluate(float(now), [])

        body = (await client.get(f"/api/v1/slos/{slo}")).json()
        assert body["status"] == "success"
        report = body["data"]
        assert report["burn_rates"]["1h"] == pytest.approx(20, rel=0.05)
        assert report["burn_rates"]["5m"] == pytest.approx(20, rel=0.05)
        assert report["burn_rates"]["6h"] == pytest.approx(20 / 6, rel=0.05)
        assert report["burning"] == ["requests"]
        assert report["healthy"] is False
        # The 30-day window holds 74 h of requests, 1 h of them at 20x the allowed errors.
        assert report["error_budget"]["remaining_ratio"] == pytest.approx(1 - 20 / 74, rel=0.02)
        assert report["error_budget"]["total_s"] == pytest.approx(2592.0)
        (ind,) = report["indicators"]
        assert ind["burning_alerts"][0]["severity"] == "critical"
        listed = (await client.get("/api/v1/slos")).json()["data"]
        assert [s["name"] for s in listed] == [slo]
        missing = await client.get("/api/v1/slos/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["error"]

        # The generated fast-burn rule fires (for_s 0) and shows in both Prometheus formats.
        rules = (await client.get("/api/v1/rules")).json()["data"]["groups"]
        slo_group = next(g for g in rules if g["name"] == f"slo-{slo}")
        fast = slo_group["rules"][0]
        assert fast["type"] == "alerting" and fast["health"] == "ok"
        assert fast["state"] == "firing" and fast["labels"]["severity"] == "critical"
        alerts = (await client.get("/api/v1/alerts")).json()["data"]["alerts"]
        mine = [a for a in alerts if a["labels"].get("slo") == slo]
        assert {a["labels"]["alertname"] for a in mine} == {"SLOErrorBudgetBurn"}
        assert all(isinstance(a["value"], str) and a["activeAt"].endswith("Z") for a in mine)

        # Silences: validation errors are 400 with a message, then create, list, expire.
        bad = await client.post(
            "/api/v1/silences",
            json={
                "matchers": [{"name": "slo", "value": ".*", "isRegex": True}],
                "durationSeconds": 60,
                "createdBy": "me",
                "comment": "x",
            },
        )
        assert bad.status_code == 400 and "empty label value" in bad.json()["error"]
        bad = await client.post("/api/v1/silences", json={"matchers": []})
        assert bad.status_code in (400, 422)
        ok = await client.post(
            "/api/v1/silences",
            json={
                "matchers": [{"name": "slo", "value": slo}],
                "endsAt": "2999-01-01T00:00:00Z",
                "createdBy": "me",
                "comment": "known issue",
            },
        )
        assert ok.status_code == 201, ok.text
        sid = ok.json()["data"]["silenceID"]
        alerts = (await client.get("/api/v1/alerts")).json()["data"]["alerts"]
        assert {a["muted"] for a in alerts if a["labels"].get("slo") == slo} == {"silenced"}
        listed = (await client.get("/api/v1/silences")).json()["data"]
        assert [s["status"]["state"] for s in listed if s["id"] == sid] == ["active"]
        gone = await client.delete(f"/api/v1/silences/{sid}")
        assert gone.json()["data"]["status"]["state"] == "expired"
        assert (await client.delete("/api/v1/silences/nope")).status_code == 404
