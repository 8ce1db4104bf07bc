"""Fixtures of the history tests (test_query_api.py, test_reader.py, test_query_cache.py).

``window`` and ``hosts`` are one data set for the whole directory: the hosts' names are fixed
for the run, so their samples are imported once, for one window. ``app`` serves the history
API (the query router) with a reader of the test VictoriaMetrics, one per test module; other
modules here define their own ``app`` and ``client``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import requests
from fastapi import FastAPI

from hostvitals.collector.api import query as query_api
from hostvitals.collector.vm.reader import VictoriaMetricsReader
from tests.support.collector_app import asgi_client, router_app
from tests.support.processes import VictoriaMetrics

# The helpers assert on the API's answers; rewrite their asserts as pytest does a test's.
pytest.register_assert_rewrite("tests.integration.collector.history_data")

from tests.integration.collector.history_data import (  # noqa: E402
    RUN,
    SAMPLES,
    Hosts,
    Window,
    host_lines,
)


@pytest.fixture(scope="package")
def window() -> Window:
    # The worst case for whole-step widening, every run: the start lies 59 s past a whole
    # minute, so at a 1 min step the widened window begins 59 s before it.
    first = int(time.time()) - 400
    offset = Window(first).start - first  # where queries start, past the first sample
    first -= (first + offset + 1) % 60
    return Window(first=first)


@pytest.fixture(scope="package")
def hosts(victoria_metrics: VictoriaMetrics, window: Window) -> Hosts:
    chosen = Hosts(
        main=f"qa-{RUN}",
        other=f"qb-{RUN}",
        weird=f'q"w\\e\nird{{x}}-{RUN}',
        jitter=f"qj-{RUN}",
    )
    steady = [(window.first + i) * 1000 for i in range(SAMPLES)]
    # Samples up to 0.6 s late, as a busy agent sends them.
    jittered = [(window.first + i) * 1000 + (i * 7919 % 600) for i in range(SAMPLES)]
    lines = [
        *host_lines(chosen.main, steady, 1.0, swap=True),
        *host_lines(chosen.other, steady, 2.0, swap=False),
        *host_lines(chosen.weird, steady, 3.0, swap=True),
        *host_lines(chosen.jitter, jittered, 1.0, swap=True),
    ]
    response = requests.post(
        f"{victoria_metrics.url}/api/v1/import", data="\n".join(lines).encode(), timeout=30
    )
    assert response.status_code == 204, response.text
    victoria_metrics.flush()
    return chosen


@pytest.fixture(scope="module")
def app(victoria_metrics: VictoriaMetrics) -> Iterator[FastAPI]:
    reader = VictoriaMetricsReader(victoria_metrics.url, timeout_s=10)
    yield router_app(query_api.router, reader)
    reader.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as test_client:
        yield test_client
