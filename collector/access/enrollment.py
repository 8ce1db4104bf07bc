"""Enrollment tokens: a fleet-wide secret that registers new agents, one host at a time.

An enrollment token may do one thing: register an agent for a host that has none yet, bound
to that host and to the agent id the new agent reports, and hand back that agent's own
credential (once). A host that is already registered cannot be taken over with it: only an
admin can clear the registration (``hostvitals-collector agents revoke``), after which the
host may enroll again. Tokens are kept in the state database as SHA-256 hashes, like the
other credentials (:mod:`.credentials`), may expire, and count their uses.

The table is read on each use: enrollments are rare, and a token created or revoked by the
CLI is seen at once. Only whether any token exists, which every request's open-mode check
asks, is kept for a second (:mod:`.kept`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hostvitals.collector.access.credentials import Presented, digest, matches, new_id, new_secret
from hostvitals.collector.access.kept import KeptAnswer
from hostvitals.collector.access.roles import Principal, Role
from hostvitals.collector.access.store import AccessError, AccessStore, AgentRecord

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS enrollment_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    uses INTEGER NOT NULL DEFAULT 0,
    last_used_at REAL
);
"""
_COLUMNS: Final = "id, name, digest, created_at, expires_at, uses, last_used_at"


class HostEnrolled(AccessError):
    """The host already has an agent registration; only an admin can clear it."""


@dataclass(frozen=True, slots=True)
class EnrollmentToken:
    id: str
    name: str
    digest: str
    created_at: float
    expires_at: float | None
    uses: int
    last_used_at: float | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "uses": self.uses,
            "last_used_at": self.last_used_at,
        }


class EnrollmentStore:
    def __init__(
        self,
        conn: sqlite3.Connection,
        agents: AccessStore,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conn = conn
        self._agents = agents
        self._clock = clock
        self._lock = threading.Lock()  # one enrollment at a time: the host check, then insert
        self._any = KeptAnswer(self._ask_any, monotonic=monotonic)
        conn.executescript(_SCHEMA)

    def tokens(self) -> list[EnrollmentToken]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM enrollment_tokens ORDER BY created_at, id"
        ).fetchall()
        return [EnrollmentToken(*row) for row in rows]

    def has_tokens(self) -> bool:
        """Whether any enrollment token exists (checked at most once a second, and at once
        after this store created or revoked one)."""
        return self._any()

    def _ask_any(self) -> bool:
        return self._conn.execute("SELECT 1 FROM enrollment_tokens LIMIT 1").fetchone() is not None

    def create(self, name: str, expires_in_s: float | None = None) -> tuple[EnrollmentToken, str]:
        """A new enrollment token and its secret (shown once, never stored)."""
        name = name.strip()
        if not name or len(name) > 200:
            raise AccessError("an enrollment token needs a name of 1 to 200 characters")
        if expires_in_s is not None and expires_in_s <= 0:
            raise AccessError("an enrollment token's lifetime must be positive")
        ref = new_id()
        secret = new_secret("e", ref)
        now = self._clock()
        expires = None if expires_in_s is None else now + expires_in_s
        record = EnrollmentToken(ref, name, digest(secret), now, expires, 0, None)
        self._conn.execute(
            "INSERT INTO enrollment_tokens (id, name, digest, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (ref, name, record.digest, now, expires),
        )
        self._any.forget()
        return record, secret

    def revoke(self, ref: str) -> None:
        if self._conn.execute("DELETE FROM enrollment_tokens WHERE id = ?", (ref,)).rowcount == 0:
            raise AccessError(f"no enrollment token {ref!r}")
        self._any.forget()

    def authenticate(self, presented: Presented) -> Principal | None:
        """The principal of a valid, unexpired enrollment token; None otherwise."""
        if presented.kind != "e" or presented.ref is None:
            return None
        token = self._token(presented.ref)
        if token is None or not matches(presented.secret, token.digest):
            return None
        if token.expires_at is not None and self._clock() >= token.expires_at:
            return None
        return Principal("enrollment", Role.ENROLL, token.id, token.name)

    def enroll(self, token_ref: str, host: str, agent_id: str) -> tuple[AgentRecord, str]:
        """Register an agent for ``host``, pinned to ``agent_id``; its secret, shown once.

        Raises HostEnrolled when ``host`` has any registration already, AccessError when the
        token is gone or the host or agent id is not acceptable.
        """
        agent_id = agent_id.strip()
        if not agent_id:
            raise AccessError("enrollment needs the agent's id")
        with self._lock:
            if self._token(token_ref) is None:
                raise AccessError(f"no enrollment token {token_ref!r}")
            for other in self._agents.agents():
                if other.host == host.strip():
                    raise HostEnrolled(
                        f"host {other.host!r} is already enrolled (agent {other.id}); an "
                        "enrollment token cannot take it over: an admin must revoke it first "
                        f"(`hostvitals-collector agents revoke {other.id}`)"
                    )
            record, secret = self._agents.add_agent(host, agent_id)
            self._conn.execute(
                "UPDATE enrollment_tokens SET uses = uses + 1, last_used_at = ? WHERE id = ?",
                (self._clock(), token_ref),
            )
        return record, secret

    def _token(self, ref: str) -> EnrollmentToken | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM enrollment_tokens WHERE id = ?", (ref,)
        ).fetchone()
        return None if row is None else EnrollmentToken(*row)
