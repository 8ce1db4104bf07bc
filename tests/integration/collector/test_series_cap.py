"""The caps on what one query's answer may hold (query.max_series, query.max_response_bytes),
against the real collector process and a real VictoriaMetrics, and against an upstream that
answers with broken JSON or breaks off (a canned HTTP server in front of the in-process app).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from hostvitals.collector.api import prom
from hostvitals.collector.api import query as query_api
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from tests.integration.collector.history_data import series_line
from tests.integration.collector.test_query_guards import HEAVY, client, import_heavy
from tests.support.collector_app import asgi_client, router_app
from tests.support.collector_process import collector, metric
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

CAP = 20
OVER = 30  # series written, more than the cap
SMALL_BYTES = 64 * 1024  # the smallest query.max_response_bytes


def rejected(base: str, reason: str) -> float:
    return metric(base, f'hostvitals_collector_query_rejected_total{{reason="{reason}"}}')


@pytest.fixture(scope="module")
def written(victoria_metrics: VictoriaMetrics) -> str:
    """A metric of OVER series (label ``i``), 240 samples each over the last hour, and
    ``node_procs_running`` of OVER hosts named after it."""
    name = f"cap_{uuid.uuid4().hex[:8]}"
    import_heavy(victoria_metrics, name, OVER)
    now_ms = int(time.time()) * 1000
    stamps = [now_ms - 60_000 + i * 15_000 for i in range(5)]
    lines = [
        series_line("node_procs_running", {"host": f"{name}-{h}"}, stamps, [1.0] * 5)
        for h in range(OVER)
    ]
    response = requests.post(
        f"{victoria_metrics.url}/api/v1/import", data="\n".join(lines), timeout=30
    )
    assert response.status_code == 204, response.text
    victoria_metrics.flush()
    return name


def test_answers_over_the_series_cap_are_422_and_under_it_are_served(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, written: str
) -> None:
    env = {"HOSTVITALS__QUERY__MAX_SERIES": str(CAP)}
    now = time.time()
    window = {"start": str(now - 3600), "end": str(now), "step": "60s"}
    over = [
        ("/api/v1/query", {"query": written}, "series"),
        ("/api/v1/query_range", {"query": written, **window}, "series"),
        ("/api/v1/series", {"match[]": written}, "series"),
        ("/api/v1/label/i/values", {"match[]": written}, "label values"),
        ("/api/v1/metrics/system", {}, "series"),  # every host: the history API widened
    ]
    with collector(tmp_path, victoria_metrics.url, env) as base:
        for path, params, what in over:
            answer = requests.get(base + path, params=params, timeout=30)
            assert answer.status_code == 422, (path, answer.text)
            body = answer.json()
            assert body["errorType"] == "bad_data"
            assert f"more than {CAP}" in body["error"] and what in body["error"], body
            assert "(query.max_series)" in body["error"]
        assert rejected(base, "too_many_series") == len(over)

        under = [
            ("/api/v1/query", {"query": f"sum({written})"}),
            ("/api/v1/query", {"query": f"topk({CAP}, {written})"}),
            ("/api/v1/query_range", {"query": f"count({written})", **window}),
            ("/api/v1/series", {"match[]": f'{written}{{i=~"1.?"}}'}),  # 1 and 10-19
            ("/api/v1/labels", {"match[]": written}),
            ("/api/v1/metrics/system", {"host": f"{written}-1"}),
        ]
        for path, params in under:
            answer = requests.get(base + path, params=params, timeout=30)
            assert answer.status_code == 200, (path, answer.text)
        first = requests.get(f"{base}/api/v1/query", params={"query": f"topk({CAP}, {written})"})
        assert len(first.json()["data"]["result"]) == CAP
        # A client's own lower limit is VictoriaMetrics' to apply, as without the cap.
        some = requests.get(f"{base}/api/v1/series", params={"match[]": written, "limit": "5"})
        assert some.status_code == 200 and len(some.json()["data"]) == 5, some.text
        assert rejected(base, "too_many_series") == len(over)


def test_one_client_over_the_cap_leaves_the_others_served(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, written: str
) -> None:
    env = {"HOSTVITALS__QUERY__MAX_SERIES": str(CAP)}
    storm = 16
    with (
        collector(tmp_path, victoria_metrics.url, env) as base,
        client(HEAVY) as heavy,
        client("127.0.0.1") as other,
        ThreadPoolExecutor(4) as pool,
    ):
        sent = [
            pool.submit(heavy.get, f"{base}/api/v1/query", params={"query": written})
            for _ in range(storm)
        ]
        answers = []
        while not all(f.done() for f in sent) or not answers:
            answers.append(other.get(f"{base}/api/v1/query", params={"query": f"count({written})"}))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers][:3]
        assert answers[-1].json()["data"]["result"][0]["value"][1] == str(OVER)
        statuses = [f.result().status_code for f in sent]
        # The heavy client's queries take their turns one at a time (429 for those that
        # found none within the queue timeout); every one that ran was refused.
        assert 422 in statuses and set(statuses) <= {422, 429}, statuses
        assert rejected(base, "too_many_series") == statuses.count(422)


def test_an_answer_over_the_byte_cap_is_cut_with_a_clear_error(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, written: str
) -> None:
    env = {"HOSTVITALS__QUERY__MAX_RESPONSE_BYTES": str(SMALL_BYTES)}
    now = time.time()
    # 30 series x 240 points: about 170 kB of answer.
    params = {"query": written, "start": str(now - 3600), "end": str(now), "step": "15s"}
    with collector(tmp_path, victoria_metrics.url, env) as base:
        direct = requests.get(f"{victoria_metrics.url}/api/v1/query_range", params=params)
        assert len(direct.content) > SMALL_BYTES
        answer = requests.get(f"{base}/api/v1/query_range", params=params, timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"].startswith(
            f"the answer is larger than {SMALL_BYTES} bytes (query.max_response_bytes)"
        )
        assert rejected(base, "too_large") == 1
        # The connection it came on was dropped; the next queries are served as usual.
        for _ in range(3):
            small = requests.get(f"{base}/api/v1/query", params={"query": f"sum({written})"})
            assert small.status_code == 200, small.text
        assert rejected(base, "too_large") == 1


def test_too_many_points_are_counted(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, written: str
) -> None:
    params = {"query": written, "start": "0", "end": "100000", "step": "1s"}
    with collector(tmp_path, victoria_metrics.url, {}) as base:
        answer = requests.get(f"{base}/api/v1/query_range", params=params, timeout=30)
        assert answer.status_code == 422, answer.text
        assert rejected(base, "too_many_points") == 1


# -- an upstream that answers with nonsense --------------------------------------------------

GOOD = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},'


class Canned(http.server.BaseHTTPRequestHandler):
    """Answers as ``server.mode`` says: ``truncated`` (a whole HTTP answer of half a JSON
    document), ``broken`` (a Content-Length it does not send, then the connection closes),
    ``stalled`` (headers, a few bytes, then nothing until the test ends)."""

    server: CannedServer

    def log_message(self, *_args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.do_GET()

    def do_GET(self) -> None:
        mode = self.server.mode
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if mode == "truncated":
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD)
            return
        self.send_header("Content-Length", str(len(GOOD) + 1000))
        self.end_headers()
        self.wfile.write(GOOD)
        self.wfile.flush()
        if mode == "stalled":
            self.server.done.wait(60)
        self.close_connection = True


class CannedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    mode = "truncated"
    done = threading.Event()


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    server = CannedServer(("127.0.0.1", 0), Canned)
    server.done = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.done.set()
        server.shutdown()
        thread.join(10)
        server.server_close()


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("truncated", "sent a malformed answer to /api/v1/query: Input data was truncated"),
        ("broken", "broke off its answer: IncompleteRead("),
    ],
)
async def test_a_broken_answer_is_a_clear_502(
    canned: CannedServer, mode: str, fragment: str
) -> None:
    canned.mode = mode
    host, port = canned.server_address[:2]
    reader = VictoriaMetricsReader(f"http://{host!s}:{port}", timeout_s=5)
    app = router_app(prom.router, reader)
    app.include_router(query_api.router)
    async with asgi_client(app) as odd:
        answer = await odd.get("/api/v1/query", params={"query": "up"})
        history = await odd.get("/api/v1/metrics/memory", params={"host": "any"})
    reader.close()
    assert answer.status_code == 502, answer.text
    assert answer.json()["errorType"] == "bad_gateway"
    assert fragment in answer.json()["error"], answer.json()
    # The history API parses its answers itself: a broken one is a 502 there too.
    assert history.status_code == 502, history.text


async def test_a_stalled_answer_ends_within_the_query_timeout(canned: CannedServer) -> None:
    canned.mode = "stalled"
    host, port = canned.server_address[:2]
    reader = VictoriaMetricsReader(f"http://{host!s}:{port}", timeout_s=5)
    app = router_app(prom.router, reader)
    app.state.settings.query = app.state.settings.query.model_copy(update={"max_duration_s": 1})
    async with asgi_client(app) as odd:
        answer = await odd.get("/api/v1/query", params={"query": "up"})
    reader.close()
    # The read gave up after 1 s of query plus the grace the collector gives VictoriaMetrics
    # to answer it, while the upstream would have stalled for a minute.
    assert answer.status_code == 502, answer.text
    assert "broke off its answer" in answer.json()["error"]
    assert "Read timed out" in answer.json()["error"]
    assert json.loads(answer.text)["status"] == "error"
