"""Where one tier's requests go: the base URLs of a single node or of a cluster's tenant.

Every request the collector makes is a base URL from here plus a path of the single-node
API (``/api/v1/import``, ``/api/v1/query``, ``/api/v1/export``, ``/health``, ``/metrics``)::

    request                            single node       cluster (tenant T)
    import (writer, rollups, re-send)  <url>             <insert_url>/insert/T/prometheus
    queries, export, pass-through      <url>             <select_url>/select/T/prometheus
    /health                            <url>             <insert_url> and <select_url>
    /metrics (start time)              <url>             <insert_url>

The tenant is ``<account_id>`` or ``<account_id>:<project_id>`` (VictoriaMetrics cluster's
URL format). The collector deletes nothing; were it to, a cluster takes deletes at
``<select_url>/delete/T/prometheus/api/v1/admin/tsdb/delete_series``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostvitals.collector.config.tiers import VictoriaMetricsSettings, Where
from hostvitals.collector.config.vmlayout import CLUSTER, SINGLE


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The base URLs of one tier (no trailing slash)."""

    layout: str
    write: str
    """Base of ``/api/v1/import``."""
    read: str
    """Base of every read path (``/api/v1/query``, ``/api/v1/export``...)."""
    roots: tuple[str, ...]
    """The processes whose ``/health`` is checked; the first one's ``/metrics`` gives the
    start time the restart watch follows (vminsert's in a cluster)."""

    @classmethod
    def single(cls, url: str) -> Endpoints:
        base = url.rstrip("/")
        return cls(SINGLE, base, base, (base,))

    @classmethod
    def cluster(cls, insert_url: str, select_url: str, tenant_id: str) -> Endpoints:
        insert, select = insert_url.rstrip("/"), select_url.rstrip("/")
        return cls(
            CLUSTER,
            f"{insert}/insert/{tenant_id}/prometheus",
            f"{select}/select/{tenant_id}/prometheus",
            (insert,) if insert == select else (insert, select),
        )

    @classmethod
    def of(cls, where: Endpoints | str) -> Endpoints:
        """``where`` itself, or a single node at the URL ``where``."""
        return where if isinstance(where, Endpoints) else cls.single(where)

    @property
    def start_time_root(self) -> str:
        return self.roots[0]


def tenant(account_id: int, project_id: int | None) -> str:
    """The tenant as cluster URLs spell it: ``42``, or ``42:7`` with a project."""
    return str(account_id) if project_id is None else f"{account_id}:{project_id}"


def endpoints_of(where: Where, vm: VictoriaMetricsSettings) -> Endpoints:
    """The endpoints of the tier ``where`` (the raw tier is ``vm`` itself), with the fleet's
    tenant from ``vm`` for a cluster. The settings were validated: the layout's URLs are
    there."""
    if not where.is_cluster:
        assert where.url is not None, "validated: layout single has url"
        return Endpoints.single(where.url)
    assert where.insert_url and where.select_url, "validated: layout cluster has both URLs"
    assert vm.account_id is not None, "validated: a cluster tier has a tenant"
    return Endpoints.cluster(
        where.insert_url, where.select_url, tenant(vm.account_id, vm.project_id)
    )
