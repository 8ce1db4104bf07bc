"""The collector's own metrics, in a registry of its own (one per app, no global registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

EXPOSITION_CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

# Every reason an ingest can be refused, so each counter exists (at 0) from the start.
REJECT_REASONS: Final = (
    "unauthorized",
    "forbidden",
    "throttled",
    "host_mismatch",
    "agent_mismatch",
    "unsupported_media_type",
    "unsupported_encoding",
    "bad_request",
    "body_too_large",
    "decompressed_too_large",
    "decoded_too_large",
    "bad_compression",
    "bad_msgpack",
    "unsupported_version",
    "bad_schema",
    "unknown_metric",
    "label_set",
    "reserved_label",
    "label_value_too_long",
    "too_many_series",
    "too_many_samples",
    "too_many_values",
    "too_many_series_for_host",
    "too_many_series_in_fleet",
    "duplicate_series",
    "too_old",
    "too_far_in_future",
    "queue_full",
    "vm_unavailable",
    "vm_rejected",
    "shutting_down",
    "rate_limited",
)

WRITE_RESULTS: Final = ("ok", "unavailable", "rejected")

# Every reason a query can be answered 422 by the query guards.
QUERY_REJECT_REASONS: Final = ("too_many_points", "too_many_series", "too_large")

SILENCE_REFUSALS: Final = ("invalid", "too_large", "too_many")
# What became of each enrollment request that an enrollment token authenticated.
ENROLLMENT_RESULTS: Final = ("enrolled", "host_enrolled", "refused")

_LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

_FRESHNESS_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class ResendMetrics:
    """Counters of restarts seen and bytes re-sent, by VictoriaMetrics target (raw, 1m...)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.restarts = Counter(
            "hostvitals_collector_vm_restarts_detected_total",
            "VictoriaMetrics restarts seen (its start time changed).",
            ["target"],
            registry=registry,
        )
        self.resends = Counter(
            "hostvitals_collector_vm_resends_total",
            "Re-sends of the recent writes to a VictoriaMetrics that restarted or came back, "
            "by result.",
            ["target", "result"],
            registry=registry,
        )
        self.resent_bytes = Counter(
            "hostvitals_collector_vm_resent_bytes_total",
            "Bytes of import lines written again after a restart.",
            ["target"],
            registry=registry,
        )
        self.window_bytes = Gauge(
            "hostvitals_collector_vm_resend_window_bytes",
            "Compressed bytes of recent writes kept for a re-send.",
            ["target"],
            registry=registry,
        )
        self.dropped_bytes = Gauge(
            "hostvitals_collector_vm_resend_window_dropped_bytes",
            "Compressed bytes of recent writes let go before their time because the window "
            "was full (raise victoriametrics.resend_max_bytes if this grows).",
            ["target"],
            registry=registry,
        )


class SelfMetrics:
    """Counters, gauges and histograms describing ingest and writes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.resend = ResendMetrics(r)
        self.ingest_frames = Counter(
            "hostvitals_collector_ingest_frames",
            "Frames accepted and written to VictoriaMetrics.",
            registry=r,
        )
        self.samples_written = Counter(
            "hostvitals_collector_samples_written",
            "Samples written to VictoriaMetrics.",
            registry=r,
        )
        self.ingest_rejected = Counter(
            "hostvitals_collector_ingest_rejected",
            "Ingest requests answered with an error, by reason.",
            ("reason",),
            registry=r,
        )
        self.query_rejected = Counter(
            "hostvitals_collector_query_rejected",
            "Queries answered 422 by the query guards, by reason: too_many_points (a range "
            "query asked for more than query.max_query_points per series), too_many_series "
            "(the answer held more than query.max_series), too_large (more than "
            "query.max_response_bytes).",
            ("reason",),
            registry=r,
        )
        for reason in QUERY_REJECT_REASONS:
            self.query_rejected.labels(reason)
        self.ingest_duplicates = Counter(
            "hostvitals_collector_ingest_duplicates",
            "Frames received again after they were written (acknowledged, not written twice).",
            registry=r,
        )
        self.ingest_bytes = Counter(
            "hostvitals_collector_ingest_received_bytes",
            "Request body bytes received on the ingest endpoint, before decompression.",
            registry=r,
        )
        self.ingest_duration = Histogram(
            "hostvitals_collector_ingest_duration_seconds",
            "Time from receiving an ingest request to answering it.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.vm_writes = Counter(
            "hostvitals_collector_vm_writes",
            "POST requests to VictoriaMetrics' import endpoint, by result.",
            ("result",),
            registry=r,
        )
        self.vm_write_frames = Counter(
            "hostvitals_collector_vm_write_frames",
            "Frames carried by import requests (frames per write shows the group commit).",
            registry=r,
        )
        self.vm_write_bytes = Counter(
            "hostvitals_collector_vm_write_bytes",
            "Bytes sent to VictoriaMetrics' import endpoint.",
            registry=r,
        )
        self.vm_write_duration = Histogram(
            "hostvitals_collector_vm_write_duration_seconds",
            "Duration of import requests to VictoriaMetrics.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.write_queue_bytes = Gauge(
            "hostvitals_collector_write_queue_bytes",
            "Bytes of import lines waiting to be written.",
            registry=r,
        )
        self.saturation_ratio = Gauge(
            "hostvitals_collector_saturation_ratio",
            "Share of the write queue in use, 0 to 1; at 1 ingests are answered 503 (queue "
            "full). What an autoscaler scales the collector on.",
            registry=r,
        )
        self.freshness = Histogram(
            "hostvitals_collector_freshness_seconds",
            "Delay from the newest tick of a frame to its write being acknowledged "
            "(observed once per host and frame when the collector's metrics are written).",
            buckets=_FRESHNESS_BUCKETS,
            registry=r,
        )
        self.current_cut = Counter(
            "hostvitals_collector_current_answers_cut",
            "Answers of /api/v1/metrics/current built cut short at live.current_max_series "
            "series (or the asked limit): hosts left for the next page, or a host truncated "
            "(a cached answer sent again is not counted again).",
            registry=r,
        )
        self.hosts = Gauge(
            "hostvitals_collector_hosts",
            "Hosts in the live view.",
            registry=r,
        )
        self.audit_records = Counter(
            "hostvitals_collector_audit_records",
            "Records written to the audit log, by action and result (`write_failed`: the "
            "record could not be written; the collector's log says why).",
            ("action", "result"),
            registry=r,
        )
        self.silences_refused = Counter(
            "hostvitals_collector_silences_refused",
            "Silences not created, by reason (invalid, too_large: a comment, createdBy or "
            "matchers over their limits, too_many: alerts.max_silences in force).",
            ("reason",),
            registry=r,
        )
        for reason in SILENCE_REFUSALS:
            self.silences_refused.labels(reason)
        self.enrollments = Counter(
            "hostvitals_collector_enrollments",
            "Enrollment requests by result: enrolled (a new agent registered), host_enrolled "
            "(the host has a registration already) or refused (a bad host or agent id).",
            ("result",),
            registry=r,
        )
        for result in ENROLLMENT_RESULTS:
            self.enrollments.labels(result)
        for reason in REJECT_REASONS:
            self.ingest_rejected.labels(reason)
        for result in WRITE_RESULTS:
            self.vm_writes.labels(result)

    def track_hosts(self, count: Callable[[], float]) -> None:
        self.hosts.set_function(count)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
