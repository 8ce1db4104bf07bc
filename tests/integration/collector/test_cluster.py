"""Two collector replicas behind a load balancer: either one answers for the whole fleet.

Real ``hostvitals-collector`` processes on one VictoriaMetrics, each listing both replicas
(itself included) in ``cluster.peers``. Host A's agent reaches replica 1, host B's replica
2, and host C moves from replica 1 to replica 2 (its connection was balanced elsewhere).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests

from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import FLUSH_INTERVAL_HEADER, Frame, Series
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.collector_process import collector_command
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
WATCH_TTL_S = 2.0
A, B, C = (f"cluster-{name}-{RUN}" for name in "abc")


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, victoria_metrics: VictoriaMetrics
) -> Iterator[list[str]]:
    root = tmp_path_factory.mktemp("cluster")
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    procs = []
    for n, port in enumerate(ports):
        proc = ManagedProcess(
            [collector_command(), "serve", "--port", str(port)],
            root / f"replica-{n}.log",
            env={
                "HOSTVITALS_CONFIG": "",
                "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
                "HOSTVITALS__STATE__DIR": str(root / f"state-{n}"),
                "HOSTVITALS__CLUSTER__PEERS": orjson.dumps(urls).decode(),
                "HOSTVITALS__CLUSTER__PEER_CACHE_S": "0",
                # A loaded machine may keep a replica from answering its peer within the 1 s
                # default; these tests check what the answers say, not how fast they come.
                "HOSTVITALS__CLUSTER__PEER_TIMEOUT_S": "15",
                "HOSTVITALS__ALERTS__EVALUATION_INTERVAL_S": "1",
                "HOSTVITALS__LIVE__WATCH_TTL_S": str(WATCH_TTL_S),
                # The replicas share the machine with whatever else runs on it: a loaded
                # machine makes their event loops late, and a late loop asks no agent to flush
                # faster (tested in tests/unit/collector/test_flush_advice.py). Watching is
                # what these tests check, so only a loop stalled for a minute may refuse.
                "HOSTVITALS__LIVE__WATCH_BUSY_LAG_S": "60",
            },
        )
        proc.start()
        procs.append(proc)
    try:
        for url, proc in zip(urls, procs, strict=True):
            try:
                wait_until(http_ok(f"{url}/api/v1/health"), 30, "replica health")
            except TimeoutError as exc:
                raise AssertionError(proc.log_tail()) from exc
        ticks = ticks_ending_now(6)
        push(urls[0], catalogue_frame(A, ticks[:2]))
        push(urls[1], catalogue_frame(B, ticks[:2]))
        push(urls[0], catalogue_frame(C, ticks[:2], agent_id="agent-c", seq=0))
        push(urls[1], catalogue_frame(C, ticks[2:4], agent_id="agent-c", seq=1))
        yield urls
    finally:
        for proc in procs:
            proc.stop()


def push(url: str, frame: Frame) -> requests.Response:
    answer = requests.post(
        f"{url}/api/v1/ingest",
        data=encode_frame(frame),
        headers={"Content-Type": "application/x-msgpack"},
        timeout=10,
    )
    assert answer.status_code == 204, answer.text
    return answer


def get(url: str, path: str, **params: str) -> object:
    answer = requests.get(url + path, params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def ours(rows: object) -> list[dict[str, object]]:
    assert isinstance(rows, list)
    return [r for r in rows if isinstance(r, dict) and str(r["host"]).endswith(RUN)]


@pytest.mark.parametrize("replica", [0, 1])
def test_each_replica_lists_every_host_once(replicas: list[str], replica: int) -> None:
    url = replicas[replica]
    assert [r["host"] for r in ours(get(url, "/api/v1/hosts"))] == [A, B, C]
    fleet = get(url, "/api/v1/fleet")
    assert isinstance(fleet, dict)
    assert [r["host"] for r in ours(fleet["hosts"])] == [A, B, C]
    assert [r["host"] for r in ours(get(url, "/api/v1/metrics/current"))] == [A, B, C]
    # Its own view alone is what its agents sent it.
    local = [r["host"] for r in ours(get(url, "/api/v1/hosts", scope="local"))]
    assert local == ([A, C] if replica == 0 else [B, C])


@pytest.mark.parametrize("replica", [0, 1])
def test_a_host_is_answered_by_the_replica_that_heard_from_it_last(
    replicas: list[str], replica: int
) -> None:
    url = replicas[replica]
    (c,) = ours(get(url, "/api/v1/metrics/current", host=C))
    # Replica 2 got C's second frame: its newest tick is the later one, wherever one asks.
    (from_two,) = ours(get(replicas[1], "/api/v1/metrics/current", host=C, scope="local"))
    assert c["timestamp"] == from_two["timestamp"]
    (from_one,) = ours(get(replicas[0], "/api/v1/metrics/current", host=C, scope="local"))
    assert from_one["timestamp"] < c["timestamp"]
    (b,) = ours(get(url, "/api/v1/metrics/current", host=B))
    assert b["series"]
    processes = get(url, "/api/v1/metrics/processes", host=B)
    assert isinstance(processes, list)


def test_a_watch_through_one_replica_reaches_the_replica_that_hears_from_the_host(
    replicas: list[str],
) -> None:
    """Host D reports to replica 2; its page is open through replica 1. The fan-out that
    asks replica 2 for D's values marks D watched there, so replica 2 asks D's agent to
    flush every tick."""
    first, second = replicas
    host = f"cluster-d-{RUN}"
    time.sleep(WATCH_TTL_S + 0.5)  # earlier tests' fleet requests watched every host
    ticks = ticks_ending_now(12)
    answer = push(second, catalogue_frame(host, ticks[:10], agent_id="agent-d", seq=0))
    assert FLUSH_INTERVAL_HEADER not in answer.headers
    (shown,) = ours(get(first, "/api/v1/metrics/current", host=host))
    assert shown["host"] == host
    answer = push(second, catalogue_frame(host, ticks[10:11], agent_id="agent-d", seq=1))
    assert answer.headers.get(FLUSH_INTERVAL_HEADER) == "1"
    # The host page's stream through replica 1 keeps it so.
    time.sleep(WATCH_TTL_S + 0.5)
    with requests.get(
        f"{first}/api/v1/stream", params={"host": host}, stream=True, timeout=10
    ) as stream:
        next(line for line in stream.iter_lines() if line.startswith(b"event: host"))
        answer = push(second, catalogue_frame(host, ticks[11:12], agent_id="agent-d", seq=2))
    assert answer.headers.get(FLUSH_INTERVAL_HEADER) == "1"


def workload_frame(host: str, ticks: list[int], name: str, cpu_s: list[float], seq: int) -> Frame:
    """A cgroups scan of one service per tick: its CPU counter and 300 MiB of memory."""
    who = {"kind": "service", "runtime": "systemd", "name": name}
    series = [
        Series("container_cpu_usage_seconds_total", who, list(cpu_s)),
        Series("container_memory_usage_bytes", who, [300 << 20] * len(ticks)),
    ]
    return Frame("agent-w", host, seq, ticks[-1], 1.0, ticks, series)


def first_host_event(url: str, host: str) -> dict[str, Any]:
    """The ``host`` update a host page's live stream through ``url`` opens with."""
    with requests.get(
        f"{url}/api/v1/stream", params={"host": host}, stream=True, timeout=10
    ) as stream:
        lines = stream.iter_lines()
        next(line for line in lines if line == b"event: host")
        data = next(line for line in lines if line.startswith(b"data: "))
    event = orjson.loads(data.removeprefix(b"data: "))["data"]
    assert isinstance(event, dict)
    return event


def test_a_hosts_workloads_come_from_the_replica_that_heard_from_it_last(
    replicas: list[str],
) -> None:
    """Host W's agent reported to replica 2 first, then to replica 1. Through replica 2, the
    host page's workloads table (its API and its live stream) is replica 1's, not the stale
    one replica 2 holds itself."""
    first, second = replicas
    host = f"cluster-w-{RUN}"
    ticks = ticks_ending_now(4)
    push(second, workload_frame(host, ticks[:2], "stale.service", [1.0, 1.5], seq=0))
    push(first, workload_frame(host, ticks[2:], "nginx.service", [10.0, 12.0], seq=1))
    # Replica 2's own view still has the stale scan: answered from it, the checks would fail.
    local = get(second, "/api/v1/metrics/workloads", host=host, scope="local")
    assert isinstance(local, list)
    assert [w["name"] for w in local] == ["stale.service"]
    for url in (second, first):
        rows = get(url, "/api/v1/metrics/workloads", host=host)
        assert isinstance(rows, list)
        assert [(w["name"], w["cpu_cores"], w["memory_bytes"]) for w in rows] == [
            ("nginx.service", 2.0, 300 << 20)
        ], url
        event = first_host_event(url, host)
        assert event["host"] == host
        assert [(w["name"], w["cpu_cores"]) for w in event["workloads"]] == [
            ("nginx.service", 2.0)
        ], url


def rules_through(url: str, leader: str) -> tuple[object, object]:
    """``/api/v1/rules`` through ``url``, and the leader's own answer around it.

    The leader evaluates every second, and each evaluation changes the rules' last evaluation
    and evaluation time: the two are compared only when the leader gave the same answer just
    before and just after the one through ``url``.
    """
    deadline = time.monotonic() + 30
    while True:
        before = get(leader, "/api/v1/rules")
        answer = get(url, "/api/v1/rules")
        if get(leader, "/api/v1/rules") == before:
            return answer, before
        assert time.monotonic() < deadline, "the leader's rules never held still"


def test_an_unknown_host_is_still_a_404(replicas: list[str]) -> None:
    answer = requests.get(
        f"{replicas[0]}/api/v1/metrics/current", params={"host": f"nobody-{RUN}"}, timeout=10
    )
    assert answer.status_code == 404


async def test_a_peer_that_is_away_is_left_out_and_counted(
    victoria_metrics: VictoriaMetrics,
) -> None:
    away = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url}, cluster={"peers": [away]}
    )
    host = f"cluster-alone-{RUN}"
    async with serving(app_settings) as (app, client):
        answer = await client.post(
            "/api/v1/ingest",
            content=encode_frame(catalogue_frame(host, ticks_ending_now(2))),
            headers=msgpack_headers(),
        )
        assert answer.status_code == 204
        for path in ("/api/v1/hosts", "/api/v1/metrics/current", "/api/v1/fleet"):
            response = await client.get(path)
            assert response.status_code == 200, response.text
        assert [h["host"] for h in (await client.get("/api/v1/hosts")).json()["data"]] == [host]
        errors = app.state.metrics.registry.get_sample_value(
            "hostvitals_collector_peer_errors_total", {"peer": away}
        )
        assert errors is not None and errors >= 1


def test_the_first_replica_in_the_list_leads_alerting_and_the_other_forwards(
    replicas: list[str],
) -> None:
    first, second = replicas
    assert get(first, "/api/v1/cluster")["leader"] == "self"  # type: ignore[index]
    assert get(second, "/api/v1/cluster")["leader"] == first  # type: ignore[index]
    silence = {
        "matchers": [{"name": "host", "value": A, "isRegex": False, "isEqual": True}],
        "createdBy": "ops",
        "comment": "maintenance",
        "durationSeconds": 600,
    }
    made = requests.post(f"{second}/api/v1/silences", json=silence, timeout=10)
    assert made.status_code == 201, made.text
    silence_id = made.json()["data"]["silenceID"]
    # Set through the follower, held by the leader: every replica shows it.
    held = get(first, "/api/v1/silences", scope="local")
    assert silence_id in [s["id"] for s in held]  # type: ignore[union-attr,index]
    assert silence_id in [s["id"] for s in get(second, "/api/v1/silences")]  # type: ignore[union-attr,index]
    assert get(second, "/api/v1/silences", scope="local") == []
    through, leaders = rules_through(second, first)
    assert through == leaders
    expired = requests.delete(f"{second}/api/v1/silences/{silence_id}", timeout=10)
    assert expired.status_code == 200, expired.text
