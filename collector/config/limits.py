"""The limits on what clients send and ask: ``limits`` (bodies, frames, series per host and
fleet), ``query`` (the query guards) and ``rate_limits`` (requests per credential and per
address)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from hostvitals.collector.config.section import MiB, Section, renamed


class LimitsSettings(Section):
    max_body_bytes: Annotated[int, Field(gt=0)] = 8 * MiB
    """Largest request body accepted, as sent (compressed)."""

    max_decompressed_bytes: Annotated[int, Field(gt=0)] = 64 * MiB
    """Largest body after decompression."""
    max_series_per_frame: Annotated[int, Field(gt=0)] = 10_000
    """Series in one frame."""
    max_samples_per_frame: Annotated[int, Field(gt=0)] = 200_000
    """Samples (non-nil values) in one frame."""
    max_label_value_length: Annotated[int, Field(gt=0)] = 256
    """Longest label value, in characters."""
    max_sample_age_s: Annotated[int, Field(gt=0)] = 7 * 86_400 + 3600
    """Oldest tick accepted, in seconds before now (7 days, the agent spool's default, plus an
    hour for its send delay). Ticks older than the raw tier's horizon go straight into the
    rollup tiers (see `tiers.cold_*`); without rollup tiers the window ends at that horizon."""
    max_future_skew_s: Annotated[int, Field(ge=0)] = 300
    """Ticks at most this many seconds in the future are accepted (clock skew)."""
    max_labels_per_series: Annotated[int, Field(gt=0, le=1000)] = 16
    """Labels on one series (the agent's own label sets need at most 2)."""
    max_values_per_frame: Annotated[int, Field(gt=0)] = 1_000_000
    """Value slots in one frame, nil gaps included (series x ticks). With the other frame
    limits it bounds what decoding a body may build (msgpack's array, map and string limits
    are set from them before anything is allocated), so a small compressed body cannot cost
    much more memory or CPU than a frame at these limits. At least `max_samples_per_frame`."""
    max_series_per_host: Annotated[int, Field(gt=0)] = 10_000
    """Distinct series one host may have in use (seen within `live.series_ttl_s`), whichever
    agent ids send them; a frame that would add more is refused (422), while frames of the
    series it has keep flowing. One host cannot blow up the database's cardinality."""
    max_series_total: Annotated[int, Field(gt=0)] = 1_000_000
    """Distinct series all hosts together may have in use (seen within `live.series_ttl_s`):
    past it, a frame that would add series is refused (422), so a host not seen yet is not let
    in, while the series the hosts have keep flowing. Keeps the database within what
    fleet-wide queries can read (VictoriaMetrics' `-search.maxUniqueTimeseries`)."""

    @model_validator(mode="after")
    def _values_hold_samples(self) -> LimitsSettings:
        if self.max_values_per_frame < self.max_samples_per_frame:
            raise ValueError("max_values_per_frame must be at least max_samples_per_frame")
        if self.max_series_total < self.max_series_per_host:
            raise ValueError("max_series_total must be at least max_series_per_host")
        return self

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        return renamed(data, "limits", {"max_series_per_agent": "max_series_per_host"})


class QuerySettings(Section):
    default_range_s: Annotated[int, Field(gt=0)] = 3600
    """Range of a history query without start/end, in seconds."""
    max_points: Annotated[int, Field(gt=0)] = 11_000
    """Most points per series a query may ask for."""
    default_points: Annotated[int, Field(gt=0)] = 300
    """About this many points per series when a query gives no step."""
    cache_ttl_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    """Range answers (history API and `query_range`) are shared by identical queries for this
    many seconds, and served up to twice as long while a fresher one is computed: the newest
    samples reach a chart at most 2 x this late. 0 turns the cache off."""
    cache_max_bytes: Annotated[int, Field(ge=1 * MiB)] = 64 * MiB
    """Memory the cached answers may take, in bytes."""
    max_duration_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    """Longest a query may run in VictoriaMetrics, in seconds: sent as its `timeout`; a
    client's own `timeout` can only make it shorter."""
    max_concurrent_per_client: Annotated[int, Field(ge=1, le=1000)] = 1
    """Queries (history API and Prometheus API) one client (credential, else address) may have
    running in VictoriaMetrics at once; more wait their turn. One heavy query can keep every
    core of VictoriaMetrics busy, so a second one from the same client would take the others'
    share (bench/isolation_queries.py); the dashboard's host page asks for its eight families
    at once, which then take their turns."""
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 8
    """Queries running in VictoriaMetrics at once, all clients together; more wait their
    turn."""
    queue_timeout_s: Annotated[float, Field(ge=0, le=600)] = 5.0
    """How long a query waits for its turn before it is answered 429 (its client's share is
    taken) or 503 (every slot is taken), with `Retry-After`."""
    max_query_points: Annotated[int, Field(gt=0)] = 30_000
    """Points per series a Prometheus API range query may ask for ((end - start) / step);
    more are answered 422 before VictoriaMetrics is asked, counted in
    `hostvitals_collector_query_rejected_total`."""
    max_series: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000
    """Series one query may return: the Prometheus API's `query`, `query_range` and `series`
    (label names or values for `labels` and `label/<name>/values`), and each query behind a
    history answer (a client widens those to every host by leaving out `host`). An answer
    with more is answered 422, counted in `hostvitals_collector_query_rejected_total`.
    VictoriaMetrics is asked for `series` and the labels with a `limit` one past the cap; the
    series of `query` and `query_range` are counted as the answer comes, and its reading
    stops at the first one past the cap. The fleet dashboards ask for a series (or a label
    value) per host at most: keep it above the number of hosts. The series a query may
    touch on the way are VictoriaMetrics' own `-search.maxUniqueTimeseries`."""
    max_response_bytes: Annotated[int, Field(ge=64 * 1024, le=4096 * MiB)] = 64 * MiB
    """Bytes of VictoriaMetrics' answer to one query (the Prometheus API and each query
    behind a history answer): past it the collector stops reading, drops the connection
    and answers 422, counted in `hostvitals_collector_query_rejected_total`. An answer is
    held in memory whole while it is checked and sent, so this and `max_concurrent` bound
    what answers in flight take."""

    @model_validator(mode="after")
    def _default_within_max(self) -> QuerySettings:
        if self.default_points > self.max_points:
            raise ValueError(
                f"default_points ({self.default_points}) must not exceed "
                f"max_points ({self.max_points})"
            )
        return self


class RateLimitSettings(Section):
    """Requests per second per credential and per client address (token buckets); a request
    over a limit is answered 429 with `Retry-After` and counted in
    `hostvitals_collector_rate_limited_total`. A rate of 0 turns that limit off. Agents on a
    legacy token or without a credential share one, so for them only the address limit
    applies."""

    ingest_per_credential_per_s: Annotated[float, Field(ge=0)] = 30.0
    """Frames per second one agent credential may push. An agent sends one frame per flush
    (every tick while its host is watched) and catches up at `catchup_rate` (20/s) at most."""
    ingest_per_credential_burst: Annotated[int, Field(ge=1)] = 120
    """Frames one agent credential may push at once above the rate."""
    ingest_per_address_per_s: Annotated[float, Field(ge=0)] = 2000.0
    """Frames per second from one address (a fleet behind one NAT address shares it)."""
    ingest_per_address_burst: Annotated[int, Field(ge=1)] = 4000
    """Frames from one address at once above the rate."""
    query_per_credential_per_s: Annotated[float, Field(ge=0)] = 50.0
    """Read API requests (every route but ingest, the live stream and the dashboard's pages
    and assets) per second per credential. The shipped dashboard asks for a few dozen answers
    at most when a page opens, and a few per refresh."""
    query_per_credential_burst: Annotated[int, Field(ge=1)] = 200
    """Read API requests per credential at once above the rate."""
    query_per_address_per_s: Annotated[float, Field(ge=0)] = 100.0
    """Read API requests per second from one address."""
    query_per_address_burst: Annotated[int, Field(ge=1)] = 400
    """Read API requests from one address at once above the rate."""
    stream_per_credential_per_s: Annotated[float, Field(ge=0)] = 1.0
    """Live streams (`GET /api/v1/stream`) opened per second per credential."""
    stream_per_credential_burst: Annotated[int, Field(ge=1)] = 20
    """Live streams one credential may open at once above the rate."""
    stream_per_address_per_s: Annotated[float, Field(ge=0)] = 2.0
    """Live streams opened per second from one address."""
    stream_per_address_burst: Annotated[int, Field(ge=1)] = 40
    """Live streams from one address at once above the rate."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * MiB)] = 1 * MiB
    """Largest request body on every route but ingest (which has `limits.max_body_bytes`);
    a larger one is answered 413."""
