"""The Prometheus-compatible pass-through answers exactly as VictoriaMetrics does."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import requests
from fastapi import FastAPI

from hostvitals.collector.api import prom
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from tests.support.collector_app import asgi_client, router_app
from tests.support.processes import VictoriaMetrics, free_port

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
FORM = "application/x-www-form-urlencoded"
Pairs = list[tuple[str, str]]


@pytest.fixture(scope="module")
def first() -> int:
    return int(time.time()) - 300


@pytest.fixture(scope="module")
def host(victoria_metrics: VictoriaMetrics, first: int) -> str:
    name = f"prom-{RUN}"
    stamps = [(first + i) * 1000 for i in range(120)]
    lines = [
        {
            "metric": {"__name__": "node_load1", "host": name},
            "values": [0.5 + i / 100 for i in range(120)],
            "timestamps": stamps,
        },
        *(
            {
                "metric": {
                    "__name__": "node_network_receive_bytes_total",
                    "host": name,
                    "device": device,
                },
                "values": [1000.0 * i * (n + 1) for i in range(120)],
                "timestamps": stamps,
            }
            for n, device in enumerate(("eth0", "eth1"))
        ),
    ]
    response = requests.post(
        f"{victoria_metrics.url}/api/v1/import",
        data="\n".join(json.dumps(line) for line in lines).encode(),
        timeout=30,
    )
    assert response.status_code == 204, response.text
    victoria_metrics.flush()
    return name


@pytest.fixture(scope="module")
def app(victoria_metrics: VictoriaMetrics) -> Iterator[FastAPI]:
    reader = VictoriaMetricsReader(victoria_metrics.url, timeout_s=10)
    yield router_app(prom.router, reader)
    reader.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as test_client:
        yield test_client


async def same_answer(
    client: httpx.AsyncClient,
    vm: VictoriaMetrics,
    method: str,
    path: str,
    params: Pairs,
    form: Pairs | None = None,
) -> Any:
    """Send one request to VictoriaMetrics and through the collector; return the shared JSON."""
    body = urlencode(form).encode() if form is not None else None
    headers = {"Content-Type": FORM} if form is not None else {}
    direct = requests.request(
        method, vm.url + path, params=params, data=body, headers=headers, timeout=10
    )
    passed = await client.request(method, path, params=tuple(params), content=body, headers=headers)
    assert passed.status_code == direct.status_code, passed.text
    assert passed.headers["content-type"] == direct.headers["content-type"]
    assert passed.json() == direct.json()
    return passed.json()


def series_selector(host: str, metric: str) -> str:
    return f'{metric}{{host="{host}"}}'


# -- pass-through ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_instant_query(
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    host: str,
    first: int,
    method: str,
) -> None:
    pairs = [("query", series_selector(host, "node_load1")), ("time", str(first + 50))]
    params, form = (pairs, None) if method == "GET" else ([], pairs)
    body = await same_answer(client, victoria_metrics, method, "/api/v1/query", params, form)
    assert body["status"] == "success"
    (sample,) = body["data"]["result"]
    assert float(sample["value"][1]) == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_range_query(
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    host: str,
    first: int,
    method: str,
) -> None:
    pairs = [
        ("query", f"rate({series_selector(host, 'node_network_receive_bytes_total')}[5s])"),
        ("start", str(first + 20)),
        ("end", str(first + 100)),
        ("step", "10s"),
    ]
    params, form = (pairs, None) if method == "GET" else ([], pairs)
    body = await same_answer(client, victoria_metrics, method, "/api/v1/query_range", params, form)
    rates = {
        r["metric"]["device"]: {float(v) for _, v in r["values"]} for r in body["data"]["result"]
    }
    assert rates == {"eth0": {1000.0}, "eth1": {2000.0}}


def cache_counts(app: FastAPI) -> tuple[float, float]:
    """Query cache (hits, misses) as /metrics reports them."""
    cache = app.state.query_cache
    hits, misses = (c.collect()[0].samples[0].value for c in (cache.hits, cache.misses))
    return hits, misses


async def test_identical_range_queries_share_an_answer_and_nocache_skips_it(
    app: FastAPI, client: httpx.AsyncClient, host: str, first: int
) -> None:
    pairs = [
        ("query", f"max_over_time({series_selector(host, 'node_load1')}[1m])"),
        ("start", str(first + 10)),
        ("end", str(first + 90)),
        ("step", "20s"),
    ]
    before = cache_counts(app)
    got = await client.get("/api/v1/query_range", params=pairs)
    # The same question again, by GET with the parameters in another order and by POST.
    again = await client.get("/api/v1/query_range", params=pairs[::-1])
    posted = await client.post(
        "/api/v1/query_range", content=urlencode(pairs).encode(), headers={"Content-Type": FORM}
    )
    assert got.status_code == 200 and got.content == again.content == posted.content
    assert cache_counts(app) == (before[0] + 2, before[1] + 1)
    skipped = await client.get("/api/v1/query_range", params=[*pairs, ("nocache", "1")])
    assert skipped.json() == got.json()
    assert cache_counts(app) == (before[0] + 2, before[1] + 2)


async def test_failed_range_queries_are_not_kept(app: FastAPI, client: httpx.AsyncClient) -> None:
    pairs = [("query", "rate(("), ("start", "0"), ("end", "60"), ("step", "15")]
    hits, misses = cache_counts(app)
    for _ in range(2):
        response = await client.get("/api/v1/query_range", params=pairs)
        assert response.status_code == 422
    assert cache_counts(app) == (hits, misses + 2)


async def test_post_form_and_query_string_together(
    client: httpx.AsyncClient, victoria_metrics: VictoriaMetrics, host: str, first: int
) -> None:
    body = await same_answer(
        client,
        victoria_metrics,
        "POST",
        "/api/v1/query",
        [("time", str(first + 10))],
        [("query", series_selector(host, "node_load1"))],
    )
    (sample,) = body["data"]["result"]
    assert sample["value"][0] == first + 10


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_series_with_repeated_match(
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    host: str,
    first: int,
    method: str,
) -> None:
    pairs = [
        ("match[]", series_selector(host, "node_load1")),
        ("match[]", series_selector(host, "node_network_receive_bytes_total")),
        ("start", str(first)),
        ("end", str(first + 200)),
    ]
    params, form = (pairs, None) if method == "GET" else ([], pairs)
    body = await same_answer(client, victoria_metrics, method, "/api/v1/series", params, form)
    names = sorted((s["__name__"], s.get("device", "")) for s in body["data"])
    assert names == [
        ("node_load1", ""),
        ("node_network_receive_bytes_total", "eth0"),
        ("node_network_receive_bytes_total", "eth1"),
    ]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_labels(
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    host: str,
    first: int,
    method: str,
) -> None:
    pairs = [
        ("match[]", series_selector(host, "node_network_receive_bytes_total")),
        ("start", str(first)),
        ("end", str(first + 200)),
    ]
    params, form = (pairs, None) if method == "GET" else ([], pairs)
    body = await same_answer(client, victoria_metrics, method, "/api/v1/labels", params, form)
    assert set(body["data"]) == {"__name__", "host", "device"}


@pytest.mark.parametrize("label", ["device", "__name__"])
async def test_label_values(
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    host: str,
    first: int,
    label: str,
) -> None:
    params = [
        ("match[]", series_selector(host, "node_load1")),
        ("match[]", series_selector(host, "node_network_receive_bytes_total")),
        ("start", str(first)),
        ("end", str(first + 200)),
    ]
    body = await same_answer(
        client, victoria_metrics, "GET", f"/api/v1/label/{label}/values", params
    )
    expected = {
        "device": ["eth0", "eth1"],
        "__name__": ["node_load1", "node_network_receive_bytes_total"],
    }
    assert sorted(body["data"]) == expected[label]


async def test_metadata(client: httpx.AsyncClient, victoria_metrics: VictoriaMetrics) -> None:
    body = await same_answer(client, victoria_metrics, "GET", "/api/v1/metadata", [])
    assert body["status"] == "success"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_bad_query_keeps_victoria_metrics_status_and_error(
    client: httpx.AsyncClient, victoria_metrics: VictoriaMetrics, method: str
) -> None:
    pairs = [("query", "rate(node_load1"), ("time", "1700000000")]
    params, form = (pairs, None) if method == "GET" else ([], pairs)
    body = await same_answer(client, victoria_metrics, method, "/api/v1/query", params, form)
    assert body["status"] == "error"
    assert "rate(node_load1" in body["error"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"query": "ignored"}'),  # what vmalert sends
        ("text/plain", b"query=ignored"),
        (None, b""),
        (None, b"query=ignored"),  # no content type: not a form either (Go's ParseForm)
    ],
)
async def test_post_with_parameters_in_the_url_and_any_body_answers_as_victoria_metrics(
    client: httpx.AsyncClient,
    victoria_metrics: VictoriaMetrics,
    content_type: str | None,
    body: bytes,
) -> None:
    params = [("query", "vector(42)"), ("time", "1700000000")]
    headers = {} if content_type is None else {"Content-Type": content_type}
    direct = requests.post(
        f"{victoria_metrics.url}/api/v1/query",
        params=params,
        data=body,
        headers=headers,
        timeout=10,
    )
    passed = await client.post("/api/v1/query", params=params, content=body, headers=headers)
    assert passed.status_code == direct.status_code == 200, passed.text
    assert passed.json() == direct.json()
    assert passed.json()["data"]["result"][0]["value"] == [1700000000, "42"]


async def test_post_with_parameters_both_in_the_url_and_the_form(
    client: httpx.AsyncClient, victoria_metrics: VictoriaMetrics
) -> None:
    body = await same_answer(
        client,
        victoria_metrics,
        "POST",
        "/api/v1/query",
        [("time", "1700000000")],
        [("query", "vector(7)")],
    )
    assert body["data"]["result"][0]["value"] == [1700000000, "7"]


async def test_oversized_form_is_refused(client: httpx.AsyncClient) -> None:
    body = urlencode([("query", "x" * (prom.MAX_FORM_BYTES + 1))]).encode()
    response = await client.post("/api/v1/query", content=body, headers={"Content-Type": FORM})
    assert response.status_code == 413
    assert response.json()["status"] == "error"


# -- buildinfo ------------------------------------------------------------------------------


async def test_buildinfo_looks_like_prometheus(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/status/buildinfo")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    data = body["data"]
    assert set(data) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    major, minor, patch = (int(part) for part in data["version"].split("."))
    assert (major, minor) >= (2, 0) and patch >= 0
    # Grafana treats a buildinfo with "features" as Mimir/Cortex; plain Prometheus has none.
    assert "features" not in data


# -- VictoriaMetrics down -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/query?query=1"),
        ("POST", "/api/v1/query"),
        ("GET", "/api/v1/query_range?query=1&start=0&end=60&step=15"),
        ("GET", "/api/v1/series?match[]=up"),
        ("GET", "/api/v1/labels"),
        ("GET", "/api/v1/label/host/values"),
        ("GET", "/api/v1/metadata"),
    ],
)
async def test_unreachable_victoria_metrics_is_a_prometheus_503(method: str, path: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reader = VictoriaMetricsReader(url, timeout_s=2)
    body = b"query=1" if method == "POST" else None
    async with asgi_client(router_app(prom.router, reader)) as dead:
        response = await dead.request(method, path, content=body, headers={"Content-Type": FORM})
    assert response.status_code == 503, response.text
    body = response.json()
    assert body == {
        "status": "error",
        "errorType": "unavailable",
        "error": f"VictoriaMetrics at {url} is unreachable: connection refused",
    }
