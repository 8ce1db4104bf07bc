"""Query guards against the real collector process and a real VictoriaMetrics: one client's
heavy queries hold only its share of the turns, everyone else is still served, and the
server's cap on query duration replaces a longer client timeout.

``HoldingProxy`` stands between the collector and VictoriaMetrics and holds every query that
names a ``hold_`` metric until the test lets go, so "a query is still running" is a fact of
the test rather than a matter of timing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import requests

from tests.support.collector_process import collector, metric
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.integration

HEAVY = "127.0.0.2"
SERIES = 4000  # sum(rate()) over these for an hour at a 1 s step: 14 M points to compute
STORM = 24  # the heavy client's address; the others ask from 127.0.0.1


class HoldingProxy:
    def __init__(self, target: str) -> None:
        self.target = target
        self.release = threading.Event()
        self.held = 0
        self.timeouts: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._forward(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self._forward(self.rfile.read(length))

            def _forward(self, body: bytes) -> None:
                query = urlsplit(self.path).query
                fields = parse_qsl(query) + parse_qsl(body.decode("latin-1"))
                with proxy._lock:
                    proxy.timeouts += [v for k, v in fields if k == "timeout"]
                if any(k == "query" and "hold_" in v for k, v in fields):
                    with proxy._lock:
                        proxy.held += 1
                    proxy.release.wait(60)
                answer = requests.request(
                    self.command,
                    proxy.target + self.path,
                    data=body or None,
                    headers={"Content-Type": self.headers.get("Content-Type", "")},
                    timeout=60,
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HoldingProxy:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def client(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60)


@pytest.fixture
def proxy(victoria_metrics: VictoriaMetrics) -> Iterator[HoldingProxy]:
    with HoldingProxy(victoria_metrics.url) as held:
        yield held


def test_a_client_over_its_share_gets_429_while_others_are_served(
    tmp_path: Path, proxy: HoldingProxy
) -> None:
    env = {
        "HOSTVITALS__QUERY__MAX_CONCURRENT_PER_CLIENT": "2",
        "HOSTVITALS__QUERY__QUEUE_TIMEOUT_S": "0.2",
        "HOSTVITALS__QUERY__MAX_DURATION_S": "3",
    }
    held = {"query": "sum(rate(hold_heavy[1m]))", "timeout": "1h"}
    with (
        collector(tmp_path, proxy.url, env) as base,
        client(HEAVY) as heavy,
        client("127.0.0.1") as other,
        ThreadPoolExecutor(2) as pool,
    ):
        running = [pool.submit(heavy.get, f"{base}/api/v1/query", params=held) for _ in range(2)]
        wait_until(lambda: proxy.held == 2, 20, "both heavy queries at VictoriaMetrics")

        over = heavy.get(f"{base}/api/v1/query", params={"query": "vector(1)"})
        assert over.status_code == 429, over.text
        assert over.headers["retry-after"] == "1"
        assert over.json()["errorType"] == "rate_limited"
        assert "max_concurrent_per_client" in over.json()["error"]

        # Everyone else: the Prometheus API and the history API answer as usual.
        cheap = other.get(f"{base}/api/v1/query", params={"query": "vector(1)"})
        assert cheap.status_code == 200, cheap.text
        history = other.get(f"{base}/api/v1/metrics/cpu", params={"host": "no-such-host"})
        assert history.status_code == 200, history.text

        proxy.release.set()
        assert [f.result().status_code for f in running] == [200, 200]
        # The client asked for an hour; VictoriaMetrics was told the server's 3 s.
        assert set(proxy.timeouts) == {"3s"}
        assert metric(base, 'hostvitals_collector_query_refused_total{reason="client"}') == 1


def import_heavy(vm: VictoriaMetrics, name: str, series: int) -> None:
    now = int(time.time())
    stamps = [(now - 3600 + i * 15) * 1000 for i in range(240)]
    values = [float(i) for i in range(240)]
    lines = (
        json.dumps(
            {"metric": {"__name__": name, "i": str(i)}, "values": values, "timestamps": stamps}
        )
        for i in range(series)
    )
    requests.post(f"{vm.url}/api/v1/import", data="\n".join(lines), timeout=120).raise_for_status()
    vm.flush()


def test_heavy_range_queries_from_one_client_leave_the_others_served(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    name = f"heavy_{uuid.uuid4().hex[:8]}"
    import_heavy(victoria_metrics, name, SERIES)
    env = {
        "HOSTVITALS__QUERY__MAX_CONCURRENT_PER_CLIENT": "2",
        "HOSTVITALS__QUERY__QUEUE_TIMEOUT_S": "1",
    }
    now = time.time()
    heavy_params = {
        "query": f"sum(rate({name}[1m]))",
        "start": str(now - 3600),
        "end": str(now),
        "step": "1s",
        "nocache": "1",
    }
    with (
        collector(tmp_path, victoria_metrics.url, env) as base,
        client(HEAVY) as heavy,
        client("127.0.0.1") as other,
        ThreadPoolExecutor(STORM) as pool,
    ):
        storm = [
            pool.submit(heavy.get, f"{base}/api/v1/query_range", params=heavy_params)
            for _ in range(STORM)
        ]
        answers = []
        while not all(f.done() for f in storm) or not answers:
            answers.append(other.get(f"{base}/api/v1/query", params={"query": f"count({name})"}))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers][:3]
        assert answers[0].json()["data"]["result"][0]["value"][1] == str(SERIES)
        statuses = [f.result().status_code for f in storm]
        # The heavy client's own queries are answered two at a time; those that found no
        # turn within the 1 s queue timeout are told to come back (for all of them to get a
        # turn, each would have to take under a twelfth of a second).
        assert set(statuses) == {200, 429}, statuses
