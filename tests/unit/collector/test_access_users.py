"""Users and sessions in the state database: argon2id hashes, the rules, expiry, and changes
made by another process (the `users` command) applying to the next request."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostvitals.collector import statedb
from hostvitals.collector.access.roles import Role
from hostvitals.collector.access.users import SESSIONS_PER_USER, UserError, UserStore, csrf_token
from tests.support.users import cheap_passwords

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def store(tmp_path: Path, clock: Clock | None = None) -> UserStore:
    return UserStore(
        statedb.connect(tmp_path),
        cheap_passwords(),
        idle_s=600,
        absolute_s=3600,
        clock=clock or Clock(),
    )


def test_a_password_is_kept_as_an_argon2id_hash_only(tmp_path: Path) -> None:
    users = store(tmp_path)
    users.add("alice", "operator", PASSWORD)
    rows = statedb.connect(tmp_path).execute("SELECT password_hash FROM users").fetchall()
    assert rows[0][0].startswith("$argon2id$")
    assert PASSWORD not in (tmp_path / statedb.FILE_NAME).read_bytes().decode("latin-1")
    assert users.check_login("alice", PASSWORD) is not None
    assert users.check_login("alice", PASSWORD + "x") is None
    assert users.check_login("nobody", PASSWORD) is None


@pytest.mark.parametrize(
    ("name", "role", "password", "says"),
    [("alice", "admin", "short", "8 to 1024"), ("", "admin", PASSWORD, "user name"),
     ("bad name", "admin", PASSWORD, "user name"), ("alice", "agent", PASSWORD, "role"),
     ("alice", "root", PASSWORD, "role")],
)  # fmt: skip
def test_the_rules(tmp_path: Path, name: str, role: str, password: str, says: str) -> None:
    with pytest.raises(UserError, match=says):
        store(tmp_path).add(name, role, password)


def test_a_name_is_taken_once(tmp_path: Path) -> None:
    users = store(tmp_path)
    users.add("alice", "viewer", PASSWORD)
    with pytest.raises(UserError, match="exists"):
        users.add("alice", "admin", PASSWORD)


def test_a_session_ends_when_idle_and_when_too_old(tmp_path: Path) -> None:
    clock = Clock()
    users = store(tmp_path, clock)
    alice = users.add("alice", "viewer", PASSWORD)
    idle = users.open_session(alice)
    clock.now += 599
    assert users.session(idle) is not None
    clock.now += 599  # seen 599 s ago, within idle_s
    assert users.session(idle) is not None
    clock.now += 600
    assert users.session(idle) is None
    busy = users.open_session(alice)
    for _ in range(7):
        clock.now += 500
        assert users.session(busy) is not None
    clock.now += 500  # 4000 s after the login
    assert users.session(busy) is None


def test_a_session_is_what_its_user_is_now(tmp_path: Path) -> None:
    users = store(tmp_path)
    alice = users.add("alice", "viewer", PASSWORD)
    secret = users.open_session(alice)
    principal = users.session(secret)
    assert principal is not None
    assert (principal.kind, principal.name, principal.role) == ("session", "alice", Role.VIEWER)
    users.set_role("alice", "admin")
    principal = users.session(secret)
    assert principal is not None and principal.role is Role.ADMIN
    assert users.session(secret + "x") is None
    assert users.session("hvt_0123456789ab_notasession") is None


def test_changes_by_another_process_apply_at_once(tmp_path: Path) -> None:
    """The collector's store and the CLI's: two connections to one file."""
    collector, cli = store(tmp_path), store(tmp_path)
    cli.add("alice", "viewer", PASSWORD)
    alice = collector.check_login("alice", PASSWORD)
    assert alice is not None
    kept, ended = collector.open_session(alice), collector.open_session(alice)
    assert collector.has_users()
    collector.close_session(ended)
    assert collector.session(ended) is None
    cli.set_password("alice", "a new password")
    assert collector.session(kept) is None  # a password change ends every session
    assert collector.check_login("alice", PASSWORD) is None
    alice = collector.check_login("alice", "a new password")
    assert alice is not None
    again = collector.open_session(alice)
    cli.remove("alice")
    assert collector.session(again) is None
    assert collector.check_login("alice", "a new password") is None
    with pytest.raises(UserError, match="no user"):
        cli.remove("alice")


def test_a_user_keeps_its_newest_sessions_only(tmp_path: Path) -> None:
    clock = Clock()
    users = store(tmp_path, clock)
    alice = users.add("alice", "viewer", PASSWORD)
    secrets = []
    for _ in range(SESSIONS_PER_USER + 3):
        clock.now += 1
        secrets.append(users.open_session(alice))
    assert [users.session(s) is not None for s in secrets[:3]] == [False] * 3
    assert all(users.session(s) is not None for s in secrets[3:])


def test_the_csrf_token_follows_from_the_session_and_differs_between_them(
    tmp_path: Path,
) -> None:
    users = store(tmp_path)
    alice = users.add("alice", "viewer", PASSWORD)
    one, two = users.open_session(alice), users.open_session(alice)
    assert csrf_token(one) == csrf_token(one)
    assert csrf_token(one) != csrf_token(two)
    assert one not in csrf_token(one)
