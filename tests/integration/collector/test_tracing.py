"""Traces of the ingest path and of queries, exported to a real OTLP/HTTP receiver.

The receiver is an aiohttp server that decodes what the collector's exporter sends with the
OpenTelemetry protocol package, as a collector of traces would.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from hostvitals.collector import tracing
from hostvitals.collector.access.auditrecord import Actor
from hostvitals.collector.logformat import JsonFormatter
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.masking import register_secret
from tests.support.collector_app import msgpack_headers, serving, settings
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-value-for-the-masking-check"
STAGES = ["ingest.receive", "ingest.decode", "ingest.dedupe", "ingest.validate", "ingest.write"]


@dataclass
class Receiver:
    url: str
    spans: list[Span] = field(default_factory=list)
    services: set[str] = field(default_factory=set)

    async def wait_for(self, name: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(s.name == name for s in self.spans):
            assert time.monotonic() < deadline, f"no span {name!r} in {self.names()}"
            await asyncio.sleep(0.05)

    def names(self) -> list[str]:
        return [s.name for s in self.spans]

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box: list[Receiver] = []

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert request.headers["Content-Type"] == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        for resource_spans in message.resource_spans:
            for attr in resource_spans.resource.attributes:
                if attr.key == "service.name":
                    box[0].services.add(attr.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                box[0].spans.extend(scope_spans.spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    box.append(Receiver(f"http://127.0.0.1:{port}/v1/traces"))
    try:
        yield box[0]
    finally:
        tracing.stop()
        await runner.cleanup()


async def test_ingest_request_spans_arrive_with_stages_as_children(
    victoria_metrics: VictoriaMetrics, receiver: Receiver
) -> None:
    host = f"trace-{uuid.uuid4().hex[:8]}"
    frame = catalogue_frame(host, ticks_ending_now(3), seq=1)
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        observability={"otlp_endpoint": receiver.url, "service_name": "collector-under-test"},
    )
    async with serving(app_settings) as (_app, client):
        response = await client.post(
            "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
        )
        assert response.status_code == 204, response.text
    # Leaving the app stops tracing, which exports what is buffered.
    await receiver.wait_for("POST /api/v1/ingest")

    (root,) = receiver.named("POST /api/v1/ingest")
    assert root.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert root.parent_span_id == b""
    children = [s for s in receiver.spans if s.parent_span_id == root.span_id]
    names = [s.name for s in sorted(children, key=lambda s: s.start_time_unix_nano)]
    assert [n for n in names if n != "ingest.dedupe.inflight"] == STAGES
    assert all(s.trace_id == root.trace_id for s in children)
    for child in children:  # inside their parent's time
        assert root.start_time_unix_nano <= child.start_time_unix_nano
        assert child.end_time_unix_nano <= root.end_time_unix_nano
    (decode,) = receiver.named("ingest.decode")
    attrs = {a.key: a.value for a in decode.attributes}
    assert attrs["hostvitals.host"].string_value == host
    assert attrs["hostvitals.series"].int_value == len(frame.series)
    assert receiver.services == {"collector-under-test"}


async def test_a_duplicate_frame_is_traced_without_a_write(
    victoria_metrics: VictoriaMetrics, receiver: Receiver
) -> None:
    frame = catalogue_frame(f"trace-{uuid.uuid4().hex[:8]}", ticks_ending_now(2), seq=7)
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        observability={"otlp_endpoint": receiver.url},
    )
    async with serving(app_settings) as (_app, client):
        for _ in range(2):
            response = await client.post(
                "/api/v1/ingest", content=encode_frame(frame), headers=msgpack_headers()
            )
            assert response.status_code == 204, response.text
    await receiver.wait_for("POST /api/v1/ingest")
    roots = receiver.named("POST /api/v1/ingest")
    assert len(roots) == 2
    second = max(roots, key=lambda s: s.start_time_unix_nano)
    under_second = [s.name for s in receiver.spans if s.parent_span_id == second.span_id]
    assert sorted(under_second) == ["ingest.decode", "ingest.dedupe", "ingest.receive"]
    (dedupe,) = [s for s in receiver.named("ingest.dedupe") if s.parent_span_id == second.span_id]
    assert {a.key: a.value.bool_value for a in dedupe.attributes}["hostvitals.duplicate"]


async def test_a_query_has_its_request_span_and_the_store_call_under_it(
    victoria_metrics: VictoriaMetrics, receiver: Receiver
) -> None:
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        observability={"otlp_endpoint": receiver.url},
    )
    async with serving(app_settings) as (_app, client):
        response = await client.get("/api/v1/query", params={"query": "vector(1)"})
        assert response.status_code == 200, response.text
    await receiver.wait_for("vm.query")
    (root,) = [s for s in receiver.spans if s.kind == Span.SpanKind.SPAN_KIND_SERVER]
    assert root.name == "GET /api/v1/query"
    # Background work (alert rules, SLOs) queries the store too, each call its own trace.
    (store,) = [s for s in receiver.named("vm.query") if s.trace_id == root.trace_id]
    assert store.parent_span_id == root.span_id
    assert {a.key: a.value.string_value for a in store.attributes}["url.path"] == ("/api/v1/query")


async def test_a_callers_traceparent_makes_the_request_its_child(
    victoria_metrics: VictoriaMetrics, receiver: Receiver
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        observability={"otlp_endpoint": receiver.url},
    )
    async with serving(app_settings) as (_app, client):
        await client.get("/api/v1/health", headers={"traceparent": f"00-{trace_id}-{parent}-01"})
    await receiver.wait_for("GET /api/v1/health")
    (root,) = receiver.named("GET /api/v1/health")
    assert root.trace_id.hex() == trace_id
    assert root.parent_span_id.hex() == parent


async def test_trace_id_reaches_json_logs_and_the_audit_log(
    victoria_metrics: VictoriaMetrics, receiver: Receiver, tmp_path: Path
) -> None:
    app_settings = settings(
        victoriametrics={"url": victoria_metrics.url},
        observability={"otlp_endpoint": receiver.url},
        audit={"dir": str(tmp_path / "audit")},
    )
    register_secret(SECRET)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    audit_logger = logging.getLogger("hostvitals.test.tracing")
    audit_logger.addHandler(handler)
    try:
        async with serving(app_settings) as (app, client):

            async def traced() -> None:
                with tracing.span("test.work"):
                    audit_logger.warning("configured secret %s seen", SECRET)
                    app.state.audit.record(
                        "test.action",
                        principal=Actor("test"),
                        target="t",
                        result="ok",
                        source=None,
                        request_id=None,
                    )

            await traced()
            assert (await client.get("/api/v1/health")).status_code in (200, 503)
    finally:
        audit_logger.removeHandler(handler)
    await receiver.wait_for("test.work")
    (work,) = receiver.named("test.work")
    logged = orjson.loads(lines[0])
    assert logged["trace_id"] == work.trace_id.hex()
    assert logged["level"] == "WARNING"
    assert SECRET not in logged["message"]  # masking applies to JSON lines too
    assert "configured secret" in logged["message"]
    records = [
        orjson.loads(line)
        for path in sorted((tmp_path / "audit").iterdir())
        for line in path.read_bytes().splitlines()
    ]
    (mine,) = [r for r in records if r["action"] == "test.action"]
    assert mine["trace_id"] == work.trace_id.hex()
    assert all("trace_id" not in r for r in records if r["action"] != "test.action")
