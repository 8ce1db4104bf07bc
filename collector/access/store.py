"""API tokens and the agent registry, kept in the collector's state database.

Only the SHA-256 of each secret is stored (:mod:`.credentials`). The tables are small (one
row per token and per agent) and read into memory; a change made by another process (the
``tokens`` and ``agents`` commands write to the same file) is picked up within
``refresh_s``, by watching SQLite's ``data_version``. Last-used times are kept in memory and
written by :meth:`AccessStore.flush_usage` (periodically, and when the collector stops).

An agent record is bound to a host, and to an agent id: given when the agent is added, or
pinned by the first frame the credential brings; only an admin clears a pin. Rotating an
agent's secret keeps the previous one valid for a grace period, so the agent can be given
the new one without a gap.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from hostvitals.collector.access.credentials import Presented, digest, matches, new_id, new_secret
from hostvitals.collector.access.roles import TOKEN_ROLES, Principal, Role

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    agent_id TEXT,
    digest TEXT NOT NULL,
    previous_digest TEXT,
    previous_until REAL,
    created_at REAL NOT NULL,
    rotated_at REAL,
    last_used_at REAL
);
"""


class AccessError(Exception):
    """A refused change (unknown id, bad role, duplicate); the message says why."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    name: str
    role: Role
    digest: str
    created_at: float
    last_used_at: float | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": str(self.role),
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
        }


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    host: str
    agent_id: str | None
    digest: str
    previous_digest: str | None
    previous_until: float | None
    created_at: float
    rotated_at: float | None
    last_used_at: float | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "agent_id": self.agent_id,
            "created_at": self.created_at,
            "rotated_at": self.rotated_at,
            "previous_valid_until": self.previous_until,
            "last_used_at": self.last_used_at,
        }


class AccessStore:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._conn = conn
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._used: dict[tuple[str, str], float] = {}  # (table, id) -> last use, not yet saved
        self._data_version = -1
        self._next_check = 0.0
        with self._lock:
            conn.executescript(_SCHEMA)
            self._load()

    # -- reading -------------------------------------------------------------------------

    def has_credentials(self) -> bool:
        self._refresh()
        return bool(self._tokens or self._agents)

    def tokens(self) -> list[TokenRecord]:
        self._refresh()
        used = self._used.copy()
        rows = [
            replace(r, last_used_at=used.get(("api_tokens", r.id), r.last_used_at))
            for r in self._tokens.values()
        ]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    def agents(self) -> list[AgentRecord]:
        self._refresh()
        used = self._used.copy()
        rows = [
            replace(r, last_used_at=used.get(("agents", r.id), r.last_used_at))
            for r in self._agents.values()
        ]
        return sorted(rows, key=lambda r: (r.host, r.created_at, r.id))

    def authenticate(self, presented: Presented) -> Principal | None:
        """The principal a secret of ours stands for; None when it is unknown or revoked."""
        self._refresh()
        now = self._clock()
        if presented.kind == "t" and presented.ref is not None:
            token = self._tokens.get(presented.ref)
            if token is None or not matches(presented.secret, token.digest):
                return None
            self._used[("api_tokens", token.id)] = now
            return Principal("token", token.role, token.id, token.name)
        if presented.kind == "a" and presented.ref is not None:
            agent = self._agents.get(presented.ref)
            if agent is None or not self._agent_secret_ok(agent, presented.secret, now):
                return None
            self._used[("agents", agent.id)] = now
            return Principal("agent", Role.AGENT, agent.id, agent.host, agent.agent_id, agent.host)
        return None

    @staticmethod
    def _agent_secret_ok(agent: AgentRecord, secret: str, now: float) -> bool:
        current = matches(secret, agent.digest)
        previous = (
            agent.previous_digest is not None
            and agent.previous_until is not None
            and now < agent.previous_until
            and matches(secret, agent.previous_digest)
        )
        return current or previous

    def pinned_agent_id(self, ref: str) -> str | None:
        self._refresh()
        agent = self._agents.get(ref)
        return None if agent is None else agent.agent_id

    # -- changing ------------------------------------------------------------------------

    def add_token(self, name: str, role: str) -> tuple[TokenRecord, str]:
        """A new API token and its secret (shown once, never stored)."""
        if role not in [str(r) for r in TOKEN_ROLES]:
            choices = ", ".join(str(r) for r in TOKEN_ROLES)
            raise AccessError(f"an API token's role is one of {choices}, not {role!r}")
        name = name.strip()
        if not name or len(name) > 200:
            raise AccessError("a token needs a name of 1 to 200 characters")
        ref = new_id()
        secret = new_secret("t", ref)
        record = TokenRecord(ref, name, Role(role), digest(secret), self._clock(), None)
        self._write(
            "INSERT INTO api_tokens (id, name, role, digest, created_at) VALUES (?, ?, ?, ?, ?)",
            (record.id, record.name, str(record.role), record.digest, record.created_at),
        )
        return record, secret

    def revoke_token(self, ref: str) -> None:
        if self._write("DELETE FROM api_tokens WHERE id = ?", (ref,)) == 0:
            raise AccessError(f"no API token {ref!r}")

    def add_agent(self, host: str, agent_id: str | None = None) -> tuple[AgentRecord, str]:
        """Register an agent for ``host``; without ``agent_id`` its first frame pins it."""
        host = host.strip()
        if not host or len(host) > 253:
            raise AccessError("an agent needs a host name of 1 to 253 characters")
        if agent_id is not None and not agent_id.strip():
            raise AccessError("the agent id must not be empty")
        for other in self.agents():
            if other.host == host and (agent_id is None or other.agent_id in (None, agent_id)):
                raise AccessError(
                    f"host {host!r} already has agent {other.id}: rotate or revoke it first"
                )
        ref = new_id()
        secret = new_secret("a", ref)
        now = self._clock()
        record = AgentRecord(ref, host, agent_id, digest(secret), None, None, now, None, None)
        self._write(
            "INSERT INTO agents (id, host, agent_id, digest, created_at) VALUES (?, ?, ?, ?, ?)",
            (ref, host, agent_id, record.digest, now),
        )
        return record, secret

    def rotate_agent(self, ref: str, grace_s: float) -> tuple[AgentRecord, str]:
        """A new secret for agent ``ref``; the current one stays valid for ``grace_s``."""
        agent = self._agent(ref)
        secret = new_secret("a", ref)
        now = self._clock()
        until = now + grace_s if grace_s > 0 else None
        previous = agent.digest if until is not None else None
        self._write(
            "UPDATE agents SET digest = ?, previous_digest = ?, previous_until = ?, rotated_at = ?"
            " WHERE id = ?",
            (digest(secret), previous, until, now, ref),
        )
        return self._agent(ref), secret

    def revoke_agent(self, ref: str) -> None:
        if self._write("DELETE FROM agents WHERE id = ?", (ref,)) == 0:
            raise AccessError(f"no agent {ref!r}")

    def pin(self, ref: str, agent_id: str) -> bool:
        """Bind agent ``ref`` to ``agent_id`` unless it is bound already; True when it is now
        bound to ``agent_id`` (by this call or earlier)."""
        self._write(
            "UPDATE agents SET agent_id = ? WHERE id = ? AND agent_id IS NULL", (agent_id, ref)
        )
        return self.pinned_agent_id(ref) == agent_id

    def unpin(self, ref: str) -> AgentRecord:
        """Let agent ``ref``'s next frame pin its agent id again (a reinstalled agent)."""
        self._agent(ref)
        self._write("UPDATE agents SET agent_id = NULL WHERE id = ?", (ref,))
        return self._agent(ref)

    def flush_usage(self) -> None:
        """Write the last-used times gathered since the previous flush."""
        with self._lock:
            used, self._used = self._used, {}
            if not used:
                return
            self._conn.execute("BEGIN")
            try:
                for (table, ref), when in used.items():
                    self._conn.execute(
                        f"UPDATE {table} SET last_used_at = ? WHERE id = ?",
                        (when, ref),
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._load()

    def invalidate(self) -> None:
        """Read the tables again now, not at the next ``refresh_s`` (a reload asked for it)."""
        self._refresh(force=True)

    # -- internals -----------------------------------------------------------------------

    def _agent(self, ref: str) -> AgentRecord:
        self._refresh(force=True)
        agent = self._agents.get(ref)
        if agent is None:
            raise AccessError(f"no agent {ref!r}")
        return agent

    def _write(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            changed = self._conn.execute(sql, params).rowcount
            self._load()
        return int(changed)

    def _refresh(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        with self._lock:
            self._next_check = now + self._refresh_s
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            if force or version != self._data_version:
                self._load()

    def _load(self) -> None:
        """Read both tables (the caller holds the lock)."""
        conn = self._conn
        self._data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        tokens = {}
        for row in conn.execute(
            "SELECT id, name, role, digest, created_at, last_used_at FROM api_tokens"
        ):
            tokens[row[0]] = TokenRecord(row[0], row[1], Role(row[2]), row[3], row[4], row[5])
        agents = {}
        for row in conn.execute(
            "SELECT id, host, agent_id, digest, previous_digest, previous_until, created_at,"
            " rotated_at, last_used_at FROM agents"
        ):
            agents[row[0]] = AgentRecord(*row)
        self._tokens, self._agents = tokens, agents
