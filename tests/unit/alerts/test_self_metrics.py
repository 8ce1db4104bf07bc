"""The collector's own metrics, written to VictoriaMetrics: each new frame's delay observed
once, and every metric of the registry as one import, gathered off the event loop."""

from __future__ import annotations

from hostvitals.collector.alerts.selfscrape import SELF_JOB
from hostvitals.collector.live.current import HostSnapshot
from tests.support.collector_app import running

NAME = "hostvitals_collector_freshness_seconds_count"


def snapshot(host: str, last_seen: float, newest_s: float) -> HostSnapshot:
    return HostSnapshot(
        host=host,
        agent_id="a",
        last_seen=last_seen,
        interval_s=1.0,
        flush_period_s=10.0,
        newest_ms=int(newest_s * 1000),
        status="up",
        series=(),
        processes=None,
    )


async def test_each_frame_is_observed_once_and_every_metric_written() -> None:
    async with running() as (app, _client, vm):
        engine = app.state.alerts
        hosts = [snapshot(f"h{n}", 100.0 + n, 99.0) for n in range(300)]
        await engine.write_self_metrics(hosts)
        await engine.write_self_metrics(hosts)  # no new frame: nothing observed again
        hosts[0] = snapshot("h0", 110.0, 109.5)
        await engine.write_self_metrics(hosts)
        mine = [
            line
            for line in vm.lines()
            if line["metric"]["__name__"] == NAME and line["metric"]["job"] == SELF_JOB
        ]
        assert [line["values"] for line in mine] == [[300.0], [300.0], [301.0]]
        names = {line["metric"]["__name__"] for line in vm.lines()}
        assert {"hostvitals_collector_ingest_frames_total", NAME} <= names
