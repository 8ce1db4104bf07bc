"""Blocking calls to one VictoriaMetrics' import, export, metrics and health endpoints.

A tier's :class:`~hostvitals.collector.vm.endpoints.Endpoints` say where each goes: all to
one single node, or imports to vminsert and exports to vmselect of a cluster's tenant.

The protocols say what each user needs: the writer and the rollup stage an
:class:`ImportTarget`, the rollup stage an :class:`ExportSource` too, the restart watch a
:class:`WatchTarget`, the app a :class:`VictoriaMetricsBackend`. :class:`VictoriaMetricsClient`
is the real one, over a :class:`~hostvitals.collector.vm.transport.Transport`; it blocks, so
it runs off the event loop.
"""

from __future__ import annotations

from typing import Final, Protocol
from urllib.parse import urlsplit

from hostvitals.collector.vm.endpoints import Endpoints
from hostvitals.collector.vm.errors import BackendMalformed, error_for_status, excerpt
from hostvitals.collector.vm.recent import RecentWrites
from hostvitals.collector.vm.transport import Request, RequestsTransport, Response, Transport

START_TIME_METRICS: Final = ("vm_app_start_timestamp", "process_start_time_seconds")


class ImportTarget(Protocol):
    def post_import(self, body: bytes) -> tuple[int, str]:
        """POST import lines; return (status, body text); raise when there is no answer."""
        ...


class ExportSource(Protocol):
    def export(self, match: str, start_ms: int, end_ms: int) -> bytes: ...


class WatchTarget(ImportTarget, Protocol):
    def start_time(self) -> float: ...


class VictoriaMetricsBackend(ImportTarget, Protocol):
    """What the writer and the health probe need from VictoriaMetrics."""

    def ping(self) -> None: ...

    def close(self) -> None: ...


class VictoriaMetricsClient:
    """Imports JSON lines, exports raw samples, reads the start time and checks ``/health``.

    ``endpoints`` (or the URL of a single node) say where each request goes. Every call goes
    through ``transport`` (a new :class:`RequestsTransport` unless given one, e.g. the one a
    reader of the same VictoriaMetrics uses); it is safe to call from several threads at
    once. Failures raise from :mod:`hostvitals.collector.vm.errors`.
    """

    def __init__(
        self,
        endpoints: Endpoints | str,
        timeout_s: float,
        health_timeout_s: float = 1.0,
        recent: RecentWrites | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.endpoints = Endpoints.of(endpoints)
        self.recent = recent  # successful imports are kept here for a re-send (resend.py)
        self.timeout_s = timeout_s
        self.health_timeout_s = health_timeout_s
        self.transport = transport if transport is not None else RequestsTransport()

    def _ok(self, request: Request) -> Response:
        """The 2xx answer to ``request``; raises for any other."""
        response = self.transport.send(request)
        if not 200 <= response.status < 300:
            raise error_for_status(
                response.status,
                f"{request.url} answered {response.status}: {excerpt(response.text)}",
                url=request.base_url,
            )
        return response

    def post_import(self, body: bytes) -> tuple[int, str]:
        """POST to ``/api/v1/import`` (vminsert's in a cluster); returns status and body text.

        Raises BackendUnavailable when there is no answer.
        """
        response = self.transport.send(
            Request(
                "POST",
                self.endpoints.write,
                "/api/v1/import",
                self.timeout_s,
                data=body,
                headers={"Content-Type": "application/stream+json"},
            )
        )
        if self.recent is not None and 200 <= response.status < 300:
            self.recent.add(body)
        return response.status, response.text

    def start_time(self) -> float:
        """When this VictoriaMetrics process started (Unix seconds), from its ``/metrics``
        (vminsert's in a cluster: the process that acknowledges the writes).

        Raises BackendError when it cannot be asked or does not say.
        """
        root = self.endpoints.start_time_root
        response = self._ok(Request("GET", root, "/metrics", self.health_timeout_s))
        for line in response.text.splitlines():
            name, _, value = line.partition(" ")
            if name in START_TIME_METRICS:
                return float(value)
        raise BackendMalformed(f"{root}/metrics has no {' or '.join(START_TIME_METRICS)}", url=root)

    def export(self, match: str, start_ms: int, end_ms: int) -> bytes:
        """Raw samples of ``match`` with ``start_ms <= ts <= end_ms`` from ``/api/v1/export``
        (vmselect's in a cluster).

        Raises BackendError when there is no answer or it is not a success.
        """
        form = {"match[]": match, "start": f"{start_ms / 1000:.3f}", "end": f"{end_ms / 1000:.3f}"}
        request = Request("POST", self.endpoints.read, "/api/v1/export", self.timeout_s, data=form)
        return self._ok(request).content

    def ping(self) -> None:
        """Raise unless ``/health`` answers 200 within the health timeout (in a cluster, on
        vminsert and on vmselect)."""
        roots = self.endpoints.roots
        for root in roots:
            response = self.transport.send(Request("GET", root, "/health", self.health_timeout_s))
            if response.status != 200:
                where = f" of {_host(root)}" if len(roots) > 1 else ""
                raise error_for_status(
                    response.status, f"/health{where} answered {response.status}", url=root
                )

    def close(self) -> None:
        """Let the transport's idle connections go."""
        self.transport.close()


def _host(url: str) -> str:
    """``host:port`` of ``url``, without a user or password."""
    return urlsplit(url).netloc.rpartition("@")[2]
