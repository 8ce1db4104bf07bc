"""Roles, and the identity a request was authenticated as.

``viewer`` < ``operator`` < ``admin`` form a ladder: each may do what the one below it may.
``agent`` stands apart: it may only push frames, and nothing else may. So does ``enroll``:
an enrollment token may only register a new agent for a host (and get that agent's own
credential), and nothing else may. ``peer`` stands apart too: another replica of a cluster,
it may call only the routes the route table marks as the ones replicas ask each other (their
live view and the alerting API forwarded to the leader).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal


class Role(enum.StrEnum):
    VIEWER = "viewer"
    """Dashboards and every read API: queries, the Prometheus API, stream, alerts, SLOs."""
    OPERATOR = "operator"
    """A viewer that may also create and expire silences."""
    ADMIN = "admin"
    """An operator that may also manage users, API tokens and agents and read the audit log."""
    AGENT = "agent"
    """Pushes frames (``POST /api/v1/ingest``) and nothing else."""
    ENROLL = "enroll"
    """Registers a new agent for a host (``POST /api/v1/agents/enroll``) and nothing else."""
    PEER = "peer"
    """Another replica (``cluster.peer_token_file``): the live view and the alerting API that
    replicas ask each other for, and nothing else (no ingest, users, tokens or audit log)."""


PUBLIC: Final = "public"
"""A route anyone may call, with or without a credential."""

Need = Role | Literal["public"]

_LADDER: Final = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)
_APART: Final = (Role.AGENT, Role.ENROLL)
# The roles an API token may carry; agents get their credentials from the agent registry.
TOKEN_ROLES: Final = _LADDER


def allows(have: Role, need: Need, *, peer_route: bool = False) -> bool:
    """Whether a caller with role ``have`` may call a route that needs ``need``;
    ``peer_route`` tells whether the route is one that replicas call on each other."""
    if need == PUBLIC:
        return True
    if have is Role.PEER:
        return peer_route
    if have in _APART or need in _APART:
        return have is need
    return _LADDER.index(have) >= _LADDER.index(Role(need))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request was authenticated as.

    ``kind`` is ``token`` (an API token), ``agent`` (an agent credential bound to ``agent_id``
    and ``host``), ``certificate`` (an agent known by its verified client certificate, bound
    to the certificate's ``names``), ``enrollment`` (an enrollment token), ``legacy`` (a token
    from ``auth.tokens``: an agent bound to no host), ``anonymous`` (the open mode: no
    credential is configured), ``session`` (a user logged in to the dashboard: ``id`` and
    ``name`` are the user's) or ``peer`` (another replica, by the cluster's peer token).
    """

    kind: Literal[
        "token", "agent", "certificate", "enrollment", "legacy", "anonymous", "session", "peer"
    ]
    role: Role
    id: str = ""
    name: str = ""
    agent_id: str | None = None
    host: str | None = None
    names: tuple[str, ...] = ()
    """For ``certificate``: every host name the certificate is for (its CN and DNS names)."""


SCOPE_KEY: Final = "hostvitals.principal"
"""The key of the ASGI scope under which the middleware leaves the request's Principal."""
