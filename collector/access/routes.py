"""The route table: every route of the collector, by method and path template, with the least
role it needs, and whether another replica (the ``peer`` role) may call it.

This is the one place that says who may call what. :mod:`.middleware` enforces it before any
router sees a request; a test walks the app's routes and fails when one has no entry here (or
an entry names a route that does not exist), and ``docs/security.md`` shows it as the role
matrix (:mod:`.matrix`). A path that matches no entry (an unknown URL) needs ``viewer``, so an
anonymous caller learns nothing from a 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from starlette.routing import compile_path

from hostvitals.collector.access.roles import PUBLIC, Need, Role

V, OP, A, AG, EN = Role.VIEWER, Role.OPERATOR, Role.ADMIN, Role.AGENT, Role.ENROLL


@dataclass(frozen=True, slots=True)
class RouteAccess:
    method: str
    path: str  # the route's path template, as the router declares it
    need: Need
    what: str  # a few words for the role matrix
    peer: bool = False  # one of the routes replicas call on each other (the peer role's)


def _both(path: str, need: Need, what: str) -> tuple[RouteAccess, RouteAccess]:
    return RouteAccess("GET", path, need, what), RouteAccess("POST", path, need, what)


ROUTES: Final[tuple[RouteAccess, ...]] = (
    RouteAccess("GET", "/api/v1/health", PUBLIC, "health for load balancers"),
    RouteAccess("POST", "/api/v1/ingest", AG, "push a frame"),
    RouteAccess("GET", "/metrics", V, "the collector's own metrics"),
    RouteAccess("GET", "/api/v1/hosts", V, "live hosts", peer=True),
    RouteAccess("GET", "/api/v1/metrics/current", V, "current values", peer=True),
    RouteAccess("GET", "/api/v1/metrics/processes", V, "top processes", peer=True),
    RouteAccess("GET", "/api/v1/metrics/workloads", V, "services and containers", peer=True),
    RouteAccess("GET", "/api/v1/metrics/{family}", V, "history of a metric family"),
    RouteAccess("GET", "/api/v1/fleet", V, "fleet summary", peer=True),
    RouteAccess("GET", "/api/v1/fleet/history", V, "fleet history"),
    RouteAccess("GET", "/api/v1/stream", V, "live stream (server-sent events)"),
    *_both("/api/v1/query", V, "Prometheus API: instant query"),
    *_both("/api/v1/query_range", V, "Prometheus API: range query"),
    *_both("/api/v1/series", V, "Prometheus API: series"),
    *_both("/api/v1/labels", V, "Prometheus API: label names"),
    *_both("/api/v1/metadata", V, "Prometheus API: metadata"),
    *_both("/api/v1/label/{name}/values", V, "Prometheus API: label values"),
    RouteAccess("GET", "/api/v1/status/buildinfo", V, "Prometheus API: build info"),
    RouteAccess("GET", "/api/v1/rules", V, "alert rules", peer=True),
    RouteAccess("GET", "/api/v1/alerts", V, "active alerts", peer=True),
    RouteAccess("GET", "/api/v1/silences", V, "list silences", peer=True),
    RouteAccess("GET", "/api/v1/silences/{silence_id}", V, "one silence", peer=True),
    RouteAccess("POST", "/api/v1/silences", OP, "create a silence", peer=True),
    RouteAccess("DELETE", "/api/v1/silences/{silence_id}", OP, "expire a silence", peer=True),
    RouteAccess("GET", "/api/v1/notifiers", V, "notifier status", peer=True),
    RouteAccess("GET", "/api/v1/slos", V, "SLOs", peer=True),
    RouteAccess("GET", "/api/v1/slos/{name}", V, "one SLO", peer=True),
    RouteAccess("GET", "/api/v1/slos/{name}/burndown", V, "an SLO's burn-down", peer=True),
    RouteAccess("GET", "/api/v1/cluster", V, "replicas of a cluster", peer=True),
    RouteAccess("GET", "/api/v1/ui", V, "what the dashboard shows"),
    RouteAccess("GET", "/api/v1/whoami", V, "the caller's own role"),
    RouteAccess("POST", "/api/v1/login", PUBLIC, "log in (throttled; sets the session cookie)"),
    RouteAccess("POST", "/api/v1/logout", V, "end the caller's session"),
    RouteAccess("GET", "/api/v1/users", A, "list users"),
    RouteAccess("POST", "/api/v1/users", A, "add a user"),
    RouteAccess("POST", "/api/v1/users/{name}/password", A, "set a user's password"),
    RouteAccess("POST", "/api/v1/users/{name}/role", A, "set a user's role"),
    RouteAccess("DELETE", "/api/v1/users/{name}", A, "remove a user"),
    RouteAccess("GET", "/api/v1/tokens", A, "list API tokens"),
    RouteAccess("POST", "/api/v1/tokens", A, "create an API token"),
    RouteAccess("DELETE", "/api/v1/tokens/{token_id}", A, "revoke an API token"),
    RouteAccess("GET", "/api/v1/agents", A, "list agents"),
    RouteAccess("POST", "/api/v1/agents", A, "register an agent"),
    RouteAccess("POST", "/api/v1/agents/{agent_ref}/rotate", A, "rotate an agent's secret"),
    RouteAccess("POST", "/api/v1/agents/{agent_ref}/unpin", A, "clear an agent's pinned id"),
    RouteAccess("DELETE", "/api/v1/agents/{agent_ref}", A, "revoke an agent"),
    RouteAccess("GET", "/api/v1/audit", A, "the audit log and its chain check"),
    RouteAccess("GET", "/api/v1/debug/stalls", A, "event-loop stalls, with stacks"),
    RouteAccess("GET", "/api/v1/debug/memory", A, "the heap by source line"),
    RouteAccess("POST", "/api/v1/agents/enroll", EN, "enroll a new agent for a host"),
    RouteAccess("GET", "/api/v1/agents/self", AG, "an agent's own registration"),
    RouteAccess("GET", "/api/v1/enrollment-tokens", A, "list enrollment tokens"),
    RouteAccess("POST", "/api/v1/enrollment-tokens", A, "create an enrollment token"),
    RouteAccess("DELETE", "/api/v1/enrollment-tokens/{token_id}", A, "revoke an enrollment token"),
    RouteAccess("GET", "/", PUBLIC, "dashboard shell (no data): fleet page"),
    RouteAccess("GET", "/hosts/{host}", PUBLIC, "dashboard shell (no data): host page"),
    RouteAccess("GET", "/explore", PUBLIC, "dashboard shell (no data): explore page"),
    RouteAccess("GET", "/alerts", PUBLIC, "dashboard shell (no data): alerts page"),
    RouteAccess("GET", "/slos", PUBLIC, "dashboard shell (no data): SLO page"),
    RouteAccess("GET", "/audit", A, "dashboard: audit page"),
    RouteAccess("GET", "/assets/{name}", PUBLIC, "dashboard scripts and styles (no data)"),
    RouteAccess("GET", "/docs", V, "API documentation page"),
    RouteAccess("GET", "/openapi.json", V, "OpenAPI document"),
    RouteAccess("GET", "/swagger/{name}", PUBLIC, "API documentation scripts (no data)"),
)

UNKNOWN_NEED: Final[Need] = V

_RANK: Final = {PUBLIC: 0, V: 1, AG: 1, EN: 1, Role.PEER: 1, OP: 2, A: 3}


class RouteTable:
    """Finds the role a request needs from its method and path."""

    def __init__(self, routes: Iterable[RouteAccess] = ROUTES) -> None:
        self.routes = tuple(routes)
        self._exact: dict[tuple[str, str], RouteAccess] = {}
        self._patterns: list[tuple[re.Pattern[str], RouteAccess]] = []
        for route in self.routes:
            if "{" in route.path:
                pattern, _format, _convertors = compile_path(route.path)
                self._patterns.append((pattern, route))
            else:
                self._exact[(route.method, route.path)] = route

    def need(self, method: str, path: str) -> Need:
        """The role needed; HEAD is GET. When templates overlap (``/api/v1/metrics/current``
        also matches ``/api/v1/metrics/{family}``) the exact path wins; among templates the
        highest need wins, so an overlap can only ask for more."""
        route = self.route(method, path)
        return UNKNOWN_NEED if route is None else route.need

    def peer_may(self, method: str, path: str) -> bool:
        """Whether another replica (the ``peer`` role) may call this route."""
        route = self.route(method, path)
        return route is not None and route.peer

    def route(self, method: str, path: str) -> RouteAccess | None:
        """The entry a request matches (see :meth:`need`); None for an unknown path. Among
        overlapping templates of one need, the peer flag holds only if all of them have it."""
        if method == "HEAD":
            method = "GET"
        exact = self._exact.get((method, path))
        if exact is not None:
            return exact
        found: RouteAccess | None = None
        for pattern, route in self._patterns:
            if route.method != method or not pattern.match(path):
                continue
            if (
                found is None
                or _RANK[route.need] > _RANK[found.need]
                or (_RANK[route.need] == _RANK[found.need] and not route.peer)
            ):
                found = route
        return found
