"""The Grafana dashboards in deploy/grafana run against the collector as their data source.

Every panel's query, with its template variables filled in the way Grafana fills them (a
variable's values come from the collector's label-values API), is sent to the collector's
Prometheus API, backed by a real VictoriaMetrics holding a host's frames and the collector's
own metrics. Each must succeed and return series: a misspelt metric or label gives an empty
answer, not an error, so "no error" alone would not catch it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from hostvitals.shared.codec import encode_frame
from tests.e2e.conftest import Collector, StartCollector
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "deploy" / "grafana").glob("*.json"))
# What Grafana puts for its built-in variables at a 1 s scrape interval and a 1 h view.
BUILTINS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<match>.+),\s*)?(?P<label>\w+)\)$")


def prom(collector: Collector, path: str, **params: Any) -> Any:
    response = requests.get(f"{collector.url}/api/v1/{path}", params=params, timeout=30)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (path, params, body)
    return body["data"]


def variable_values(collector: Collector, definition: str) -> list[str]:
    found = LABEL_VALUES.match(definition)
    assert found is not None, f"not a label_values() query: {definition}"
    params = {"match[]": found["match"]} if found["match"] else {}
    values: list[str] = prom(collector, f"label/{found['label']}/values", **params)
    return values


def substituted(expr: str, variables: dict[str, str]) -> str:
    for name, value in {**BUILTINS, **variables}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a variable is left in {expr}"
    return expr


@pytest.fixture
def fed(start_collector: StartCollector) -> tuple[Collector, str]:
    """A collector that has taken two frames of one host, a duplicate and a refusal, and has
    written its own metrics before and after them."""
    # Own metrics every second; range answers not shared (they are seconds old here).
    env = {"HOSTVITALS__SLOS__SELF_METRICS_INTERVAL_S": "1", "HOSTVITALS__QUERY__CACHE_TTL_S": "0"}
    collector = start_collector(env=env)
    host = f"dash-{uuid.uuid4().hex[:8]}"
    mine = f"127.0.0.1:{collector.port}"
    headers = {"Content-Type": "application/x-msgpack"}
    url = f"{collector.url}/api/v1/ingest"
    ticks = ticks_ending_now(60)
    frames = [catalogue_frame(host, ticks[:30], seq=1), catalogue_frame(host, ticks[30:], seq=2)]

    def written(times: int) -> bool:
        data = prom(
            collector,
            "query",
            query="count_over_time(hostvitals_collector_ingest_frames_total"
            f'{{job="hostvitals-collector", instance="{mine}"}}[1m])',
        )
        return bool(data["result"]) and float(data["result"][0]["value"][1]) >= times

    # One frame, then the rest once the collector has written its metrics: the counters
    # and histograms then grow between two of its writes, so their rates are not all zero.
    first = requests.post(url, data=encode_frame(frames[0]), headers=headers, timeout=10)
    assert first.status_code == 204, first.text
    wait_until(lambda: written(1), 30, "the collector's own metrics", step=0.25)
    for frame in [frames[1], frames[1]]:  # the second copy is a duplicate
        response = requests.post(url, data=encode_frame(frame), headers=headers, timeout=10)
        assert response.status_code == 204, response.text
    refused = requests.post(url, data=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert refused.status_code == 415
    # Until a write of the collector's metrics after the frames is followed by another, a
    # rate over them is zero and a quantile of zero rates is no answer at all.
    latency = (
        "histogram_quantile(0.99, sum by (le) (rate("
        f'hostvitals_collector_ingest_duration_seconds_bucket{{instance="{mine}"}}[1m])))'
    )

    def all_observed() -> bool:  # asked as the panels ask it
        now = time.time()
        window = {"start": str(now - 120), "end": str(now), "step": "1"}
        return bool(prom(collector, "query_range", query=latency, **window)["result"])

    wait_until(all_observed, 30, "a write of the metrics after the frames", step=0.25)
    return collector, host


def test_there_are_the_three_dashboards() -> None:
    assert [p.name for p in DASHBOARDS] == ["collector.json", "fleet.json", "host.json"]
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        assert doc["uid"].startswith("hostvitals-")
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids)), path.name
        # Every panel uses the dashboard's data source variable, none a fixed one.
        for panel in doc["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])


def test_every_panel_query_answers_with_series(fed: tuple[Collector, str]) -> None:
    collector, host = fed
    checked = sum(panel_queries_answer(collector, host, path) for path in DASHBOARDS)
    assert checked >= 25


def panel_queries_answer(collector: Collector, host: str, path: Path) -> int:
    """Send every query of the dashboard at ``path``; how many there were."""
    doc = json.loads(path.read_text())
    variables: dict[str, str] = {}
    for var in doc["templating"]["list"]:
        if var["type"] != "query":
            continue
        values = variable_values(collector, var["definition"])
        assert values, f"{path.name}: variable {var['name']} has no values"
        # Other tests' hosts and collectors share the store: pick this test's.
        mine = {"host": host, "instance": f"127.0.0.1:{collector.port}"}[var["name"]]
        assert mine in values, (var["name"], values)
        variables["$" + var["name"]] = mine
    now = time.time()
    checked = 0
    for panel in doc["panels"]:
        for target in panel["targets"]:
            expr = substituted(target["expr"], variables)
            if target.get("instant"):
                data = prom(collector, "query", query=expr, time=str(now))
            else:
                data = prom(
                    collector,
                    "query_range",
                    query=expr,
                    # The last two minutes at 1 s, as a short Grafana view asks: the
                    # collector's own metrics are only seconds old.
                    start=str(now - 120),
                    end=str(now),
                    step="1",
                )
            assert data["result"], f"{path.name}: {panel['title']!r}: no series for {expr}"
            checked += 1
    return checked
