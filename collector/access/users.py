"""Users and their login sessions, kept in the collector's state database.

A user has a name, a role (viewer, operator or admin) and an argon2id hash of its password
(:mod:`.passwords`). A session is made by a login: its secret (``hvs_<random>``, the cookie's
value) is never stored, only its SHA-256. A session ends after ``idle_s`` without a request,
``absolute_s`` after the login, at logout, and when its user's password changes or the user
is removed. Every check reads the database (one indexed row), so a change made by the
``users`` command in another process applies to the next request; a role change applies to
open sessions too.

The CSRF token of a session is derived from its secret (:func:`csrf_token`), so it needs no
storage and cannot be known without the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hostvitals.collector.access.credentials import digest, new_id
from hostvitals.collector.access.kept import KeptAnswer
from hostvitals.collector.access.passwords import (
    PasswordRuleError,
    Passwords,
    check_name,
)
from hostvitals.collector.access.roles import TOKEN_ROLES, Principal, Role

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    password_changed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
"""
SESSION_PREFIX: Final = "hvs_"
SESSIONS_PER_USER: Final = 32  # a user's oldest sessions end past this many
_TOUCH_EVERY_S: Final = 30.0  # a session's last-seen time is written at most this often


class UserError(Exception):
    """A refused change (unknown user, bad role, duplicate name); the message says why."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    role: Role
    created_at: float
    password_changed_at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": str(self.role),
            "created_at": self.created_at,
            "password_changed_at": self.password_changed_at,
        }


def csrf_token(session_secret: str) -> str:
    return hmac.new(session_secret.encode(), b"hostvitals csrf", hashlib.sha256).hexdigest()


def _role(role: str) -> Role:
    if role not in [str(r) for r in TOKEN_ROLES]:
        choices = ", ".join(str(r) for r in TOKEN_ROLES)
        raise UserError(f"a user's role is one of {choices}, not {role!r}")
    return Role(role)


class UserStore:
    def __init__(
        self,
        conn: sqlite3.Connection,
        passwords: Passwords | None = None,
        *,
        idle_s: float = 8 * 3600.0,
        absolute_s: float = 7 * 86_400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._conn = conn
        self.passwords = passwords or Passwords()
        self.idle_s = idle_s
        self.absolute_s = absolute_s
        self._clock = clock
        self._lock = threading.Lock()
        self._any = KeptAnswer(self._ask_any)
        with self._lock:
            conn.executescript(_SCHEMA)

    # -- users ---------------------------------------------------------------------------

    def has_users(self) -> bool:
        """Whether any user exists (checked at most once a second)."""
        return self._any()

    def _ask_any(self) -> bool:
        with self._lock:
            return bool(self._conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0])

    def users(self) -> list[UserRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, role, created_at, password_changed_at FROM users ORDER BY name"
            ).fetchall()
        return [UserRecord(r[0], r[1], Role(r[2]), r[3], r[4]) for r in rows]

    def user(self, name: str) -> UserRecord:
        for record in self.users():
            if record.name == name:
                return record
        raise UserError(f"no user {name!r}")

    def add(self, name: str, role: str, password: str) -> UserRecord:
        record_role = _role(role)
        try:
            check_name(name)
            hashed = self.passwords.hash(password)
        except PasswordRuleError as exc:
            raise UserError(str(exc)) from None
        now = self._clock()
        ref = new_id()
        try:
            self._execute(
                "INSERT INTO users (id, name, role, password_hash, created_at,"
                " password_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (ref, name, str(record_role), hashed, now, now),
            )
        except sqlite3.IntegrityError:
            raise UserError(f"user {name!r} exists already") from None
        self._any.forget()
        return UserRecord(ref, name, record_role, now, now)

    def set_password(self, name: str, password: str) -> UserRecord:
        """A new password; every session of the user ends."""
        user = self.user(name)
        try:
            hashed = self.passwords.hash(password)
        except PasswordRuleError as exc:
            raise UserError(str(exc)) from None
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
                    (hashed, self._clock(), user.id),
                )
                self._conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return self.user(name)

    def set_role(self, name: str, role: str) -> UserRecord:
        user = self.user(name)
        self._execute("UPDATE users SET role = ? WHERE id = ?", (str(_role(role)), user.id))
        return self.user(name)

    def remove(self, name: str) -> None:
        """Remove a user and end its sessions."""
        user = self.user(name)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
                self._conn.execute("DELETE FROM users WHERE id = ?", (user.id,))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        self._any.forget()

    def check_login(self, name: str, password: str) -> UserRecord | None:
        """The user when the password is right; None otherwise (the same work either way)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, role, created_at, password_changed_at, password_hash"
                " FROM users WHERE name = ?",
                (name,),
            ).fetchone()
        if not self.passwords.verify_or_waste(None if row is None else row[5], password):
            return None
        assert row is not None
        if self.passwords.needs_rehash(row[5]):
            self._execute(
                "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                (self.passwords.hash(password), row[0], row[5]),
            )
        return UserRecord(row[0], row[1], Role(row[2]), row[3], row[4])

    # -- sessions ------------------------------------------------------------------------

    def open_session(self, user: UserRecord) -> str:
        """A new session for ``user``; its secret (the cookie's value), shown only now."""
        secret = SESSION_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO sessions (digest, user_id, created_at, last_seen_at)"
                    " VALUES (?, ?, ?, ?)",
                    (digest(secret), user.id, now, now),
                )
                self._conn.execute(
                    "DELETE FROM sessions WHERE user_id = ? AND digest NOT IN (SELECT digest"
                    " FROM sessions WHERE user_id = ? ORDER BY created_at DESC LIMIT ?)",
                    (user.id, user.id, SESSIONS_PER_USER),
                )
                self._conn.execute(
                    "DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?",
                    (now - self.idle_s, now - self.absolute_s),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return secret

    def session(self, secret: str, *, touch: bool = True) -> Principal | None:
        """The user a session secret stands for; None when it is unknown, ended or expired.
        ``touch=False`` only looks: the session's idle time goes on (an open stream's
        recheck must not keep a session alive by itself)."""
        if not secret.startswith(SESSION_PREFIX) or len(secret) > 128:
            return None
        key = digest(secret)
        now = self._clock()
        with self._lock:
            row = self._conn.execute(
                "SELECT s.created_at, s.last_seen_at, u.id, u.name, u.role FROM sessions s"
                " JOIN users u ON u.id = s.user_id WHERE s.digest = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            created, seen, user_id, name, role = row
            if now - seen >= self.idle_s or now - created >= self.absolute_s:
                self._conn.execute("DELETE FROM sessions WHERE digest = ?", (key,))
                return None
            if touch and now - seen >= _TOUCH_EVERY_S:
                self._conn.execute(
                    "UPDATE sessions SET last_seen_at = ? WHERE digest = ?", (now, key)
                )
        return Principal("session", Role(role), user_id, name)

    def close_session(self, secret: str) -> None:
        self._execute("DELETE FROM sessions WHERE digest = ?", (digest(secret),))

    def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            return int(self._conn.execute(sql, params).rowcount)
