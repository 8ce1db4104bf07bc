"""Saving the alert state: a large set of alerts is written whole, a slice at a time, so
the event loop keeps serving while it is gathered."""

from __future__ import annotations

from hostvitals.collector.alerts.engine import SAMPLES_PER_SLICE
from hostvitals.collector.alerts.model import Alert
from tests.support.collector_app import running
from tests.support.turns import counting_turns


async def test_saving_many_alerts_gives_the_loop_back_and_writes_each_alert_whole() -> None:
    async with running() as (app, _client, _vm):
        engine = app.state.alerts
        rule_id = next(iter(engine.alerts))
        count = 3 * SAMPLES_PER_SLICE + 7
        for i in range(count):
            labels = {"alertname": "Test", "host": f"h{i}"}
            engine.alerts[rule_id][f"f{i}"] = Alert(
                rule_id, f"f{i}", labels, {}, "firing", 1.0, float(i), 2.0, fired_at=3.0
            )
        async with counting_turns() as turns:
            before = turns.count
            doc = await engine.dump_in_slices()
            during = turns.count - before
        assert doc == engine.dump()
        assert len(doc["alerts"]) == count
        # one turn of the loop per slice at least, so other requests ran meanwhile
        assert during >= count // SAMPLES_PER_SLICE
