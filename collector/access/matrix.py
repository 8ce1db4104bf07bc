"""The role matrix: the route table as a Markdown table, one row per route and a column per
caller.

``docs/security.md`` holds it between markers; a test keeps the two equal. Print it with
``python -m hostvitals.collector.access.matrix``.
"""

from __future__ import annotations

from typing import Final

from hostvitals.collector.access.roles import PUBLIC, Role, allows
from hostvitals.collector.access.routes import ROUTES, RouteAccess

CALLERS: Final = ("anonymous", *(str(r) for r in Role))
BEGIN: Final = "<!-- role matrix: begin -->"
END: Final = "<!-- role matrix: end -->"


def _cell(route: RouteAccess, caller: str) -> str:
    if route.need == PUBLIC:
        return "yes"
    if caller == "anonymous":
        return "401"
    return "yes" if allows(Role(caller), route.need, peer_route=route.peer) else "403"


def role_matrix() -> str:
    """The table; routes in path order, each method on its own row."""
    head = ["method", "path", "what", "needs", *CALLERS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for route in sorted(ROUTES, key=lambda r: (r.path, r.method)):
        cells = [route.method, f"`{route.path}`", route.what, f"{route.need}"]
        cells += [_cell(route, caller) for caller in CALLERS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(role_matrix(), end="")
