"""The route table covers every route, and its lookups are what the router would match."""

from __future__ import annotations

from fastapi.routing import iter_route_contexts

from hostvitals.collector.access.roles import PUBLIC, Role, allows
from hostvitals.collector.access.routes import ROUTES, RouteTable
from hostvitals.collector.app import create_app
from tests.support.collector_app import FakeVictoriaMetrics, settings


def app_routes() -> set[tuple[str, str]]:
    app = create_app(settings(), backend=FakeVictoriaMetrics())
    found = set()
    for route in iter_route_contexts(app.routes):
        assert route.path is not None, f"a route without a path: {route!r}"
        for method in route.methods or ():
            if method != "HEAD":  # HEAD is GET's
                found.add((method, route.path))
    return found


def test_every_route_has_exactly_one_entry_and_every_entry_a_route() -> None:
    table = [(r.method, r.path) for r in ROUTES]
    assert len(table) == len(set(table)), "a route is listed twice"
    routes = app_routes()
    missing = sorted(routes - set(table))
    assert not missing, f"routes without an entry in collector/access/routes.py: {missing}"
    stale = sorted(set(table) - routes)
    assert not stale, f"entries naming no route: {stale}"


def test_lookups() -> None:
    table = RouteTable()
    assert table.need("GET", "/api/v1/health") == PUBLIC
    assert table.need("HEAD", "/api/v1/hosts") is Role.VIEWER
    assert table.need("POST", "/api/v1/ingest") is Role.AGENT
    assert table.need("GET", "/api/v1/metrics/current") is Role.VIEWER
    assert table.need("GET", "/api/v1/metrics/cpu") is Role.VIEWER
    assert table.need("DELETE", "/api/v1/silences/abc") is Role.OPERATOR
    assert table.need("POST", "/api/v1/agents/0123456789ab/rotate") is Role.ADMIN
    assert table.need("GET", "/assets/app.js") == PUBLIC
    assert table.need("GET", "/api/v1/debug/stalls") is Role.ADMIN  # stacks of the collector
    assert table.need("GET", "/api/v1/debug/memory") is Role.ADMIN
    # Unknown paths and methods need a viewer: an anonymous caller gets 401, not 404.
    assert table.need("GET", "/nowhere") is Role.VIEWER
    assert table.need("PUT", "/api/v1/health") is Role.VIEWER
    assert table.need("GET", "/assets/a/b") is Role.VIEWER  # {name} takes one segment


def test_roles_form_a_ladder_and_agents_stand_apart() -> None:
    assert allows(Role.ADMIN, Role.OPERATOR) and allows(Role.OPERATOR, Role.VIEWER)
    assert not allows(Role.VIEWER, Role.OPERATOR) and not allows(Role.OPERATOR, Role.ADMIN)
    assert not allows(Role.ADMIN, Role.AGENT) and not allows(Role.AGENT, Role.VIEWER)
    assert allows(Role.AGENT, Role.AGENT) and allows(Role.AGENT, PUBLIC)
