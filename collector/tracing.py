"""OpenTelemetry traces of the collector's own work, exported over OTLP/HTTP.

Off unless ``observability.otlp_endpoint`` is set. While off, :func:`span` hands out one
shared do-nothing context manager and imports nothing of the SDK, so an untraced collector
pays one global read and one branch per stage. While on, the collector keeps its own tracer
provider (not the process-global one), so a test can start and stop it more than once.

The ingest request's span (``POST /api/v1/ingest``, made by :class:`TraceRequests`) has one
child per stage: ``ingest.receive``, ``ingest.decode``, ``ingest.validate``,
``ingest.dedupe`` and ``ingest.write``. Query routes get their request span and a
``vm.query`` child for each call to VictoriaMetrics.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import trace
from opentelemetry.propagate import extract
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

_OFF: Final = contextlib.nullcontext(None)


@dataclass(slots=True)
class _State:
    tracer: trace.Tracer | None = None
    provider: TracerProvider | None = None


_state: Final = _State()


def enabled() -> bool:
    return _state.tracer is not None


def span(name: str, attributes: Mapping[str, Any] | None = None) -> Any:
    """A context manager: a child span of the current one while tracing is on, else nothing.

    Typed ``Any`` because the two cases yield different things (a span or None); callers
    only enter it.
    """
    tracer = _state.tracer
    if tracer is None:
        return _OFF
    return tracer.start_as_current_span(name, attributes=attributes)


def current_trace_id() -> str | None:
    """The current span's trace id in hex (32 digits), or None outside a traced span."""
    if _state.tracer is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def start(
    endpoint: str | None,
    *,
    service_name: str = "hostvitals-collector",
    sample_ratio: float = 1.0,
    export_timeout_s: float = 10.0,
) -> bool:
    """Start exporting spans to the OTLP/HTTP ``endpoint`` when it is set; whether it was."""
    if endpoint is None:
        return False
    # The SDK only when wanted: an untraced collector does not import it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from hostvitals.collector import collector_version

    stop()
    resource = Resource.create(
        {"service.name": service_name, "service.version": collector_version()}
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio))
    )
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=export_timeout_s)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    _state.provider = provider
    _state.tracer = provider.get_tracer("hostvitals.collector", collector_version())
    return True


def stop() -> None:
    """Export what is buffered and stop tracing (no effect when off)."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


class TraceRequests:
    """ASGI middleware: one server span per HTTP request while tracing is on, named after
    the method and the matched route's path template (``GET /api/v1/query``). A caller's
    ``traceparent`` header makes it that trace's child."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = _state.tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        with tracer.start_as_current_span(
            f"{method} {scope.get('path', '')}",
            context=extract(_headers(scope)),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope.get("path", "")},
        ) as request_span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None)
                if isinstance(template, str):
                    request_span.update_name(f"{method} {template}")
                    request_span.set_attribute("http.route", template)
                if status:
                    request_span.set_attribute("http.response.status_code", status[0])
                    if status[0] >= 500:
                        request_span.set_status(trace.StatusCode.ERROR)
