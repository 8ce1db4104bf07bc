"""The collector as a Prometheus data source for the real clients from Debian's packages:
vmalert evaluating a rule through it and notifying a local receiver, and promtool's queries;
and both with API tokens against a collector that has credentials.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
import yaml

from tests.e2e.alert_receivers import WebReceiver
from tests.e2e.conftest import Collector, StartCollector, console_script
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, wait_until

pytestmark = pytest.mark.e2e


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is missing: `make deps` installs it")
    return found


@pytest.fixture
def seeded(victoria_metrics: VictoriaMetrics) -> Iterator[tuple[str, int]]:
    """A probe series of this test's own, one point a second for the last two minutes."""
    run = uuid.uuid4().hex[:8]
    now = int(time.time())
    stamps = list(range(now - 120, now + 1))
    line = {
        "metric": {"__name__": "hv_client_probe", "run": run, "host": f"probe-{run}"},
        "values": [1.0] * len(stamps),
        "timestamps": [t * 1000 for t in stamps],
    }
    requests.post(
        f"{victoria_metrics.url}/api/v1/import", data=orjson.dumps(line), timeout=10
    ).raise_for_status()
    victoria_metrics.flush()
    yield run, now


@pytest.fixture
def collector(start_collector: StartCollector) -> Collector:
    return start_collector()


def vmalert_notifies(collector: Collector, run: str, tmp_path: Path, *flags: str) -> None:
    """Run Debian's vmalert on the collector as its data source with one rule over this
    test's probe series, and wait for the notification it sends to a local receiver."""
    receiver = WebReceiver()
    receiver.start()
    rules = tmp_path / "rules.yml"
    rule = {
        "alert": "ProbeSeen",
        "expr": f'max by (run) (hv_client_probe{{run="{run}"}}) > 0',
        "labels": {"severity": "low"},
    }
    rules.write_text(yaml.safe_dump({"groups": [{"name": "p", "interval": "1s", "rules": [rule]}]}))
    vmalert = ManagedProcess(
        [
            binary("vmalert"),
            f"-datasource.url={collector.url}",
            *flags,
            f"-rule={rules}",
            f"-notifier.url={receiver.url('')}",
            f"-httpListenAddr=127.0.0.1:{free_port()}",
            "-evaluationInterval=1s",
        ],
        tmp_path / "vmalert.log",
    )
    vmalert.start()
    try:

        def notified() -> bool:
            return any(
                alert["labels"].get("alertname") == "ProbeSeen"
                and alert["labels"].get("run") == run
                for path in receiver.bodies
                for body in receiver.received(path)
                for alert in (body if isinstance(body, list) else [body])
            )

        wait_until(notified, 30, "vmalert's notification", step=0.25)
    finally:
        vmalert.stop()
        receiver.stop()
    log = vmalert.log_path.read_text()
    assert "unexpected response code" not in log, log


def test_vmalert_evaluates_a_rule_through_the_collector_and_notifies(
    collector: Collector, seeded: tuple[str, int], tmp_path: Path
) -> None:
    run, _ = seeded
    vmalert_notifies(collector, run, tmp_path)


def promtool(*args: str) -> str:
    done = subprocess.run(
        [binary("promtool"), "query", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_promtool_queries_through_the_collector(
    collector: Collector, seeded: tuple[str, int]
) -> None:
    run, now = seeded
    selector = f'hv_client_probe{{run="{run}"}}'
    assert "=> 1 @[" in promtool("instant", "--time", str(now - 10), collector.url, selector)
    ranged = promtool(
        "range",
        "--start",
        str(now - 60),
        "--end",
        str(now - 10),
        "--step",
        "10s",
        collector.url,
        selector,
    )
    assert ranged.count("1 @[") == 6, ranged
    series = promtool(
        "series",
        "--match",
        selector,
        "--start",
        str(now - 60),
        "--end",
        str(now),
        collector.url,
    )
    assert f'run="{run}"' in series, series
    labels = promtool("labels", "--match", selector, collector.url, "run")
    assert run in labels.split(), labels


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_grafanas_request_shapes(
    collector: Collector, victoria_metrics: VictoriaMetrics, seeded: tuple[str, int], method: str
) -> None:
    """What Grafana's Prometheus data source sends, GET or POST (form), answers as VM does."""
    run, now = seeded
    selector = f'hv_client_probe{{run="{run}"}}'
    window = {"start": str(now - 60), "end": str(now)}
    shapes = [
        ("/api/v1/status/buildinfo", {}),
        ("/api/v1/query", {"query": selector, "time": str(now - 5)}),
        ("/api/v1/query_range", {"query": selector, "step": "15", **window}),
        ("/api/v1/labels", window),
        ("/api/v1/label/run/values", {**window, "match[]": selector}),
        ("/api/v1/series", {**window, "match[]": selector}),
    ]
    for path, params in shapes:
        if path == "/api/v1/status/buildinfo" or method == "GET":
            ours = requests.get(collector.url + path, params=params, timeout=10)
            theirs = requests.get(victoria_metrics.url + path, params=params, timeout=10)
        else:
            ours = requests.post(collector.url + path, data=params, timeout=10)
            theirs = requests.post(victoria_metrics.url + path, data=params, timeout=10)
        assert ours.status_code == 200, (path, ours.text)
        assert ours.json()["status"] == "success", path
        if path != "/api/v1/status/buildinfo":
            assert ours.json()["data"] == theirs.json()["data"], path
    assert json.loads(ours.text)["data"], "the series lookup found the probe"


def make_token(env: dict[str, str], role: str) -> str:
    done = subprocess.run(
        [console_script("hostvitals-collector"), "tokens", "add", "--name", f"e2e {role}",
         "--role", role],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture
def guarded(start_collector: StartCollector, tmp_path: Path) -> tuple[Collector, str]:
    env = {"HOSTVITALS__STATE__DIR": str(tmp_path / "state"), "HOSTVITALS_CONFIG": ""}
    token = make_token(env, "viewer")
    return start_collector(env=env), token


def promtool_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), "query", *args], capture_output=True, text=True, timeout=30
    )


def test_promtool_with_the_token_as_basic_auth_password(
    guarded: tuple[Collector, str], seeded: tuple[str, int]
) -> None:
    collector, token = guarded
    run, now = seeded
    selector = f'hv_client_probe{{run="{run}"}}'
    refused = promtool_run("instant", "--time", str(now - 10), collector.url, selector)
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout
    with_token = collector.url.replace("http://", f"http://promtool:{token}@")
    done = promtool_run("instant", "--time", str(now - 10), with_token, selector)
    assert done.returncode == 0, done.stderr
    assert "=> 1 @[" in done.stdout
    assert token not in done.stdout + done.stderr


def test_vmalert_evaluates_through_the_collector_with_a_bearer_token(
    guarded: tuple[Collector, str], seeded: tuple[str, int], tmp_path: Path
) -> None:
    collector, token = guarded
    run, _ = seeded
    vmalert_notifies(collector, run, tmp_path, f"-datasource.bearerToken={token}")
    anonymous = requests.get(f"{collector.url}/api/v1/query", params={"query": "1"}, timeout=10)
    assert anonymous.status_code == 401
