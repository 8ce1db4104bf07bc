"""The client of one VictoriaMetrics over a mock transport: what it sends and how it fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hostvitals.collector.vm.client import VictoriaMetricsClient
from hostvitals.collector.vm.errors import (
    BackendMalformed,
    BackendRejected,
    BackendUnavailable,
)
from hostvitals.collector.vm.recent import RecentWrites
from hostvitals.collector.vm.transport import MockTransport, Request, Response

URL = "http://vm.test:8428"


def client(
    handler: Callable[[Request], Response], recent: RecentWrites | None = None
) -> tuple[VictoriaMetricsClient, MockTransport]:
    transport = MockTransport(handler)
    return VictoriaMetricsClient(URL + "/", 7.0, 0.5, recent=recent, transport=transport), transport


def answer(status: int, content: bytes = b"") -> Callable[[Request], Response]:
    return lambda _request: Response(status, content)


def test_imports_are_posted_and_kept_for_a_resend_only_when_stored() -> None:
    recent = RecentWrites(10.0, 1 << 20)
    statuses = iter([204, 400, 503])
    vm, transport = client(lambda _r: Response(next(statuses), b"why"), recent)
    assert vm.post_import(b"a\n") == (204, "why")
    assert vm.post_import(b"b\n") == (400, "why")
    assert vm.post_import(b"c\n") == (503, "why")
    assert recent.bodies() == [b"a\n"]
    sent = transport.requests[0]
    assert (sent.method, sent.url, sent.timeout_s, sent.data) == (
        "POST",
        URL + "/api/v1/import",
        7.0,
        b"a\n",
    )
    assert sent.headers == {"Content-Type": "application/stream+json"}


def test_an_import_without_an_answer_raises_unavailable() -> None:
    def down(request: Request) -> Response:
        raise BackendUnavailable.no_answer(request.base_url, "connection refused")

    vm, _ = client(down)
    with pytest.raises(BackendUnavailable, match=f"{URL} is unreachable: connection refused"):
        vm.post_import(b"a\n")


def test_start_time_is_read_from_the_metrics_page() -> None:
    page = b"# HELP x\nvm_rows 5\nvm_app_start_timestamp 1700000000\n"
    vm, transport = client(answer(200, page))
    assert vm.start_time() == 1_700_000_000.0
    assert (transport.requests[0].path, transport.requests[0].timeout_s) == ("/metrics", 0.5)
    other, _ = client(answer(200, b"process_start_time_seconds 12.5\n"))
    assert other.start_time() == 12.5


def test_start_time_fails_without_the_metric_or_a_success() -> None:
    vm, _ = client(answer(200, b"vm_rows 5\n"))
    with pytest.raises(BackendMalformed, match="/metrics has no vm_app_start_timestamp"):
        vm.start_time()
    busy, _ = client(answer(503, b"starting"))
    with pytest.raises(BackendUnavailable, match="/metrics answered 503: starting") as caught:
        busy.start_time()
    assert caught.value.status == 503


def test_export_sends_the_match_and_window_in_seconds() -> None:
    vm, transport = client(answer(200, b'{"values":[]}\n'))
    assert vm.export('{host="a"}', 1_000, 61_999) == b'{"values":[]}\n'
    sent = transport.requests[0]
    assert (sent.method, sent.path, sent.timeout_s) == ("POST", "/api/v1/export", 7.0)
    assert sent.data == {"match[]": '{host="a"}', "start": "1.000", "end": "61.999"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, BackendRejected), (500, BackendUnavailable), (429, BackendUnavailable)],
)
def test_export_raises_for_an_error_status(status: int, kind: type[Exception]) -> None:
    vm, _ = client(answer(status, b"  bad\n match  "))
    with pytest.raises(kind, match=f"{URL}/api/v1/export answered {status}: bad match$"):
        vm.export("{}", 0, 1)


def test_ping_passes_on_200_only() -> None:
    vm, transport = client(answer(200))
    vm.ping()
    assert (transport.requests[0].path, transport.requests[0].timeout_s) == ("/health", 0.5)
    for status, kind in ((500, BackendUnavailable), (404, BackendRejected)):
        sick, _ = client(answer(status))
        with pytest.raises(kind, match=f"^/health answered {status}$"):
            sick.ping()
