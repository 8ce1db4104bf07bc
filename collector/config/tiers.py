"""The storage sections: ``victoriametrics`` (the raw tier and how every tier is written) and
``tiers`` (retention and the rollup tiers).

Each tier is a single-node VictoriaMetrics (layout ``single``, one ``url``) or a
VictoriaMetrics cluster (layout ``cluster``: ``insert_url`` of vminsert, ``select_url`` of
vmselect, the fleet's tenant ``victoriametrics.account_id``); see
:mod:`hostvitals.collector.config.vmlayout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

from pydantic import Field, field_validator, model_validator

from hostvitals.collector.config.section import MiB, Section
from hostvitals.collector.config.vmlayout import (
    CLUSTER,
    TENANT_ID_MAX,
    Layout,
    check_layout,
    cluster_base_url,
    http_url,
    without_default_url,
)

TenantId = Annotated[int, Field(ge=0, le=TENANT_ID_MAX)]


class _Place(Section):
    """What the raw tier's and each rollup tier's settings share: checking their URLs and
    layout (each declares the fields, with its own defaults and docs)."""

    if TYPE_CHECKING:  # declared by each subclass, in its own order
        layout: Layout
        url: str | None
        insert_url: str | None
        select_url: str | None

    @field_validator("url", check_fields=False)
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @field_validator("insert_url", check_fields=False)
    @classmethod
    def _insert_url(cls, value: str | None) -> str | None:
        return cluster_base_url(value, "vminsert", 8480)

    @field_validator("select_url", check_fields=False)
    @classmethod
    def _select_url(cls, value: str | None) -> str | None:
        return cluster_base_url(value, "vmselect", 8481)

    @model_validator(mode="after")
    def _layout(self) -> _Place:
        check_layout(self.layout, self.url, self.insert_url, self.select_url)
        return self

    @property
    def is_cluster(self) -> bool:
        return self.layout == CLUSTER

    def urls(self) -> list[str]:
        """The URLs given (whichever the layout uses)."""
        return [u for u in (self.url, self.insert_url, self.select_url) if u is not None]


class VictoriaMetricsSettings(_Place):
    layout: Layout = "single"
    """How the raw tier's VictoriaMetrics is laid out. `single`: one single-node
    VictoriaMetrics at `url` takes writes and answers reads. `cluster`: a VictoriaMetrics
    cluster; writes go to vminsert at `insert_url`, reads to vmselect at `select_url`, under
    the tenant `account_id` (docs/operations.md, "VictoriaMetrics cluster")."""
    url: str | None = "http://127.0.0.1:8428"
    """Base URL of the single-node VictoriaMetrics of the raw tier (layout `single`). With
    layout `cluster` leave it out or set it to null."""
    insert_url: str | None = None
    """Layout `cluster`: base URL of the raw tier's vminsert (such as `http://vminsert:8480`,
    or a vmauth in front of it). Imports go to
    `<insert_url>/insert/<account_id>/prometheus/api/v1/import`; its `/health` and `/metrics`
    are checked."""
    select_url: str | None = None
    """Layout `cluster`: base URL of the raw tier's vmselect (such as `http://vmselect:8481`,
    or a vmauth). Queries, exports and the Prometheus API pass-through go to
    `<select_url>/select/<account_id>/prometheus/api/v1/...`."""
    account_id: TenantId | None = None
    """The fleet's tenant (accountID, 0 to 4294967295) in VictoriaMetrics cluster, used by
    every tier with layout `cluster` and required by them (0 is the cluster's default
    tenant). Null when every tier is a single node."""
    project_id: TenantId | None = None
    """Optional projectID (0 to 4294967295) within `account_id`: the tenant in the paths
    becomes `<account_id>:<project_id>`. Null: the account alone."""
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """Timeout of every request to VictoriaMetrics, in seconds."""
    write_batch_max_bytes: Annotated[int, Field(gt=0, le=32 * MiB)] = 4 * MiB
    """Group commit: one import request carries up to this many bytes of import lines."""
    write_max_delay_ms: Annotated[int, Field(ge=0, le=10_000)] = 10
    """Group commit: how long a batch waits for more frames after the first one queued."""
    write_concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    """Import requests in flight at once: a slow one holds up only its own batch."""
    write_queue_max_bytes: Annotated[int, Field(gt=0)] = 64 * MiB
    """Bytes of import lines allowed to wait; past it ingests are answered 503 (`Retry-After:
    1`)."""
    retry_after_s: Annotated[int, Field(ge=1, le=3600)] = 5
    """`Retry-After` (seconds) sent when VictoriaMetrics cannot take writes."""
    health_timeout_s: Annotated[float, Field(gt=0)] = 1.0
    """Timeout of the health endpoint's check of VictoriaMetrics' `/health` (with layout
    `cluster`, of vminsert's and vmselect's), in seconds."""
    health_cache_s: Annotated[float, Field(ge=0)] = 1.0
    """Seconds the health check's answer is reused."""
    resend_window_s: Annotated[float, Field(ge=0, le=600)] = 15.0
    """VictoriaMetrics acknowledges rows seconds before they are on disk: the writes of the last
    this many seconds (to every tier) are kept, compressed, and written again when it
    restarts or comes back after an outage (its dedup stores them once). 0 turns it off."""
    resend_max_bytes: Annotated[int, Field(ge=1 * MiB)] = 64 * MiB
    """Most bytes the recent writes of `resend_window_s` may take."""
    restart_check_interval_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    """How often the collector looks at VictoriaMetrics' start time (with layout `cluster`,
    vminsert's), in seconds."""

    @model_validator(mode="before")
    @classmethod
    def _no_default_url_in_a_cluster(cls, data: Any) -> Any:
        return without_default_url(data)


class RollupTierSettings(_Place):
    """One downsampled tier: its own VictoriaMetrics, a single node (`url`) or a cluster
    (`layout: cluster`, `insert_url`, `select_url`)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9]{1,16}$")]
    """The tier's name (`resolution=` in the history API)."""
    layout: Layout = "single"
    """`single`: the tier is one single-node VictoriaMetrics at `url`. `cluster`: a
    VictoriaMetrics cluster of its own (its vmstorage nodes keep this tier's retention), at
    `insert_url` and `select_url`, under `victoriametrics.account_id`."""
    url: str | None = None
    """Layout `single`: base URL of the tier's VictoriaMetrics, started with
    `-retentionPeriod=<retention_days>d` and `-dedup.minScrapeInterval=<resolution_s>s`."""
    insert_url: str | None = None
    """Layout `cluster`: base URL of the tier's vminsert (the collector adds
    `/insert/<account_id>/prometheus`)."""
    select_url: str | None = None
    """Layout `cluster`: base URL of the tier's vmselect, started with
    `-dedup.minScrapeInterval=<resolution_s>s` like its vmstorage nodes (the collector adds
    `/select/<account_id>/prometheus`)."""
    resolution_s: Annotated[int, Field(ge=1, le=86_400)]
    """One sample per series per this many seconds."""
    retention_days: Annotated[int, Field(ge=1, le=36_500)]
    """Days the tier keeps its samples."""


Where: TypeAlias = VictoriaMetricsSettings | RollupTierSettings
"""The settings of one tier's place: the raw tier's ``victoriametrics`` or a rollup tier."""


def _default_rollup_tiers() -> list[RollupTierSettings]:
    return [
        RollupTierSettings(
            name="1m", url="http://127.0.0.1:8429", resolution_s=60, retention_days=7
        ),
        RollupTierSettings(
            name="5m", url="http://127.0.0.1:8430", resolution_s=300, retention_days=30
        ),
        RollupTierSettings(
            name="1h", url="http://127.0.0.1:8431", resolution_s=3600, retention_days=365
        ),
    ]


class TiersSettings(Section):
    """Retention tiers: raw at ``victoriametrics``, then the rollup instances."""

    raw_retention_days: Annotated[int, Field(ge=1, le=36_500)] = 1
    """Days the raw tier (`victoriametrics`) keeps samples."""
    rollups: list[RollupTierSettings] = Field(default_factory=_default_rollup_tiers)
    """The rollup tiers (see docs/architecture.md), finest first, each its own VictoriaMetrics.
    `[]` turns rollups off."""
    rollup_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    """The rollup job looks for closed buckets to (re)compute this often (seconds)."""
    settle_s: Annotated[float, Field(ge=0, le=3600)] = 5.0
    """Seconds the rollup job waits after a bucket's last write so the raw rows are searchable."""
    max_pending_buckets: Annotated[int, Field(ge=1)] = 1_000_000
    """Buckets waiting to be computed; past this, new marks are dropped (and counted)."""
    cold_margin_s: Annotated[int, Field(ge=60)] = 3600
    """The cold path: ticks older than `raw_retention_days` minus this many seconds cannot be
    rolled up from the raw tier, so they are merged into partial aggregates per (tier, host,
    series, bucket), kept in `state.dir`, and each merge rewrites the bucket's rollup."""
    cold_grace_s: Annotated[float, Field(ge=0)] = 900.0
    """A partial is dropped this long (seconds) after its last merge once the host's cold frames
    have moved past its bucket."""
    cold_idle_s: Annotated[float, Field(gt=0)] = 86_400.0
    """A partial is dropped this long (seconds) after its last merge in any case; a dropped
    bucket merged again later starts from the tier's value."""
    cold_max_partials: Annotated[int, Field(ge=1)] = 1_000_000
    """Partials kept at most; beyond it the least recently merged go first."""

    @model_validator(mode="after")
    def _ordered(self) -> TiersSettings:
        names = [t.name for t in self.rollups]
        if "raw" in names or len(set(names)) != len(names):
            raise ValueError("rollup tier names must be unique and not 'raw'")
        prev_res, prev_ret = 0, self.raw_retention_days
        for tier in self.rollups:
            if tier.resolution_s <= prev_res or tier.retention_days < prev_ret:
                raise ValueError(
                    "rollup tiers must go from finer to coarser resolution with retention that "
                    "does not shrink"
                )
            prev_res, prev_ret = tier.resolution_s, tier.retention_days
        return self
