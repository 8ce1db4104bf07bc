"""Slow and greedy clients against the real collector process: a request head that does not
arrive in time is answered 408 and closed, a stalled body too, and connections beyond the
per-address and total limits are answered at once while other clients are served."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.support.collector_process import collector, connect, metric, read_all
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration


def test_a_head_that_never_completes_is_closed_with_408(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    env = {"HOSTVITALS__SERVER__HEADER_TIMEOUT_S": "1"}
    with collector(tmp_path, victoria_metrics.url, env) as base:
        silent = connect(base)
        partial = connect(base)
        partial.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: collector\r\nX-Slow: ")
        for sock in (silent, partial):
            answer = read_all(sock)  # the server closes it: recv would time out otherwise
            assert answer.startswith(b"HTTP/1.1 408 "), answer
            assert b"request head did not arrive within 1 s" in answer
            sock.close()
        # A keep-alive connection whose second request stalls is closed too.
        with connect(base) as sock:
            sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: collector\r\n\r\nGET /api")
            answer = read_all(sock)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert b"HTTP/1.1 408 " in answer
        assert (
            metric(base, 'hostvitals_collector_connections_closed_total{reason="header_timeout"}')
            == 3
        )
        assert requests.get(f"{base}/api/v1/health", timeout=10).status_code == 200


def test_a_stalled_body_is_closed_with_408(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    env = {"HOSTVITALS__SERVER__BODY_TIMEOUT_S": "1"}
    with collector(tmp_path, victoria_metrics.url, env) as base, connect(base) as sock:
        sock.sendall(
            b"POST /api/v1/silences HTTP/1.1\r\nHost: collector\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"mat'
        )
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert (
            metric(base, 'hostvitals_collector_connections_closed_total{reason="body_timeout"}')
            == 1
        )


def test_one_address_gets_its_share_of_connections_and_others_are_served(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    env = {"HOSTVITALS__SERVER__MAX_CONNECTIONS_PER_ADDRESS": "5"}
    with collector(tmp_path, victoria_metrics.url, env) as base, ExitStack() as held:
        for _ in range(5):
            held.enter_context(connect(base, "127.0.0.2"))
        with connect(base, "127.0.0.2") as extra:
            answer = read_all(extra)
        assert answer.startswith(b"HTTP/1.1 429 "), answer
        assert b"retry-after: 1" in answer
        assert b"this address has 5 connections open" in answer
        assert requests.get(f"{base}/api/v1/health", timeout=10).status_code == 200
        refused = 'hostvitals_collector_connections_refused_total{reason="per_address"}'
        assert metric(base, refused) == 1


def test_connections_beyond_the_open_files_are_answered_503_not_left_hanging(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    # 256 open files: at most 192 connections (three quarters), whatever max_connections is.
    env = {"HOSTVITALS__SERVER__HEADER_TIMEOUT_S": "2"}
    with collector(tmp_path, victoria_metrics.url, env, nofile=256) as base:
        sockets = []
        try:
            for i in range(240):
                sockets.append(connect(base, f"127.0.1.{i % 200 + 1}"))
            answers = []
            for sock in sockets:
                answers.append(read_all(sock))
        finally:
            for sock in sockets:
                sock.close()
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 503 ")]
        timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408 ")]
        assert len(refused) >= 240 - 192, answers[:3]
        assert len(refused) + len(timed_out) == 240
        # Once the idle ones are gone, a new client is served.
        assert requests.get(f"{base}/api/v1/health", timeout=10).status_code == 200
