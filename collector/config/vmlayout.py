"""Where a tier's VictoriaMetrics is: one single-node URL, or a cluster's vminsert and vmselect.

A single node (the default layout, ``single``) takes writes and answers reads at one ``url``.
A VictoriaMetrics cluster (layout ``cluster``) takes writes at vminsert and answers reads at
vmselect, each under the fleet's tenant (``victoriametrics.account_id``, optionally with
``project_id``)::

    <insert_url>/insert/<tenant>/prometheus/api/v1/import
    <select_url>/select/<tenant>/prometheus/api/v1/query (query_range, series, export...)

The settings give the layout and the base URLs; the paths are built in
:mod:`hostvitals.collector.vm.endpoints`. These checks are shared by the raw tier
(``victoriametrics``) and each rollup tier (``tiers.rollups[]``); each raises ValueError with
a message that says what to change.
"""

from __future__ import annotations

from typing import Any, Final, Literal
from urllib.parse import urlsplit

Layout = Literal["single", "cluster"]
SINGLE: Final = "single"
CLUSTER: Final = "cluster"
TENANT_ID_MAX: Final = 2**32 - 1
"""Account and project ids are 32-bit unsigned integers in VictoriaMetrics cluster."""

# Path segments that belong to the paths the collector builds, not to a base URL.
_CLUSTER_SEGMENTS: Final = frozenset({"insert", "select", "delete", "prometheus"})


def http_url(value: str) -> str:
    """``value`` without a trailing slash; raises unless it is an http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return value.rstrip("/")


def cluster_base_url(value: str | None, component: str, port: int) -> str | None:
    """A vminsert or vmselect base URL (``component``), checked: the collector adds
    ``/insert/<tenant>/prometheus`` (or ``/select/...``) itself, so a URL that already holds
    such a path is refused rather than doubled. A path prefix of a proxy is kept."""
    if value is None:
        return None
    url = http_url(value)
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if _CLUSTER_SEGMENTS.intersection(segments):
        raise ValueError(
            f"must be the base URL of {component} (such as http://{component}:{port}), without "
            "/insert/, /select/ or /prometheus: the collector adds "
            "/<insert|select>/<account_id>/prometheus itself"
        )
    return url


def without_default_url(data: Any) -> Any:
    """A section's raw mapping with ``url: null`` added when it asks for layout ``cluster``
    and gives no url, so the single node's default URL does not apply to a cluster."""
    if isinstance(data, dict) and data.get("layout") == CLUSTER and "url" not in data:
        return {**data, "url": None}
    return data


def check_layout(
    layout: Layout, url: str | None, insert_url: str | None, select_url: str | None
) -> None:
    """Raise unless the keys given fit ``layout``: ``url`` for a single node, ``insert_url``
    and ``select_url`` (and no ``url``) for a cluster."""
    if layout == SINGLE:
        given = [k for k, v in (("insert_url", insert_url), ("select_url", select_url)) if v]
        if given:
            raise ValueError(
                f"{' and '.join(given)} {'need' if len(given) > 1 else 'needs'} layout "
                "'cluster'; with layout 'single' (the default) give url only"
            )
        if url is None:
            raise ValueError("layout 'single' needs url (the single-node VictoriaMetrics)")
        return
    if url is not None:
        raise ValueError(
            "url is for layout 'single'; with layout 'cluster' remove it (or set it to null) "
            "and give insert_url (vminsert) and select_url (vmselect)"
        )
    missing = [k for k, v in (("insert_url", insert_url), ("select_url", select_url)) if not v]
    if missing:
        raise ValueError(
            f"layout 'cluster' needs {' and '.join(missing)}: the base URLs of vminsert "
            "(writes) and vmselect (reads)"
        )


def check_tenant(cluster_tiers: list[str], account_id: int | None, project_id: int | None) -> None:
    """Raise unless the fleet's tenant fits the tiers: ``cluster_tiers`` names the tiers with
    layout ``cluster``; they need ``account_id``, and single-node tiers have no tenant."""
    if cluster_tiers and account_id is None:
        raise ValueError(
            f"tiers with layout 'cluster' ({', '.join(cluster_tiers)}) need "
            "victoriametrics.account_id: the fleet's tenant in the cluster (0 is the cluster's "
            "default tenant)"
        )
    if not cluster_tiers and (account_id is not None or project_id is not None):
        raise ValueError(
            "victoriametrics.account_id and project_id apply to tiers with layout 'cluster', "
            "and no tier has it: remove them, or set layout: cluster"
        )
