"""API tokens and agents in the state database: hashes only, revocation, rotation, last use,
and changes made by another process (the CLI) seen by a running collector."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from hostvitals.collector import statedb
from hostvitals.collector.access.credentials import (
    BadCredentials,
    Presented,
    from_authorization,
    parse_secret,
)
from hostvitals.collector.access.roles import Role
from hostvitals.collector.access.store import AccessError, AccessStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def store(path: Path | None = None, clock: Clock | None = None) -> AccessStore:
    return AccessStore(statedb.connect(path), refresh_s=0.0, clock=clock or Clock())


def test_a_token_is_stored_as_a_hash_only(tmp_path: Path) -> None:
    s = store(tmp_path)
    record, secret = s.add_token("grafana", "viewer")
    assert secret.startswith(f"hvt_{record.id}_") and len(secret) > 50
    raw = (tmp_path / statedb.FILE_NAME).read_bytes()
    wal = tmp_path / (statedb.FILE_NAME + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    # The random part follows "hvt_<id>_" and may itself contain "_".
    random_part = secret.split("_", 2)[2]
    assert len(random_part) >= 40
    assert secret.encode() not in raw and random_part.encode() not in raw
    principal = s.authenticate(parse_secret(secret))
    assert principal is not None and principal.role is Role.VIEWER
    assert principal.name == "grafana"


def test_wrong_revoked_and_malformed_secrets_are_refused() -> None:
    s = store()
    record, secret = s.add_token("ci", "admin")
    assert s.authenticate(parse_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"))) is None
    assert s.authenticate(parse_secret("hvt_ffffffffffff_" + secret.split("_", 2)[2])) is None
    assert s.authenticate(Presented(secret, None, None)) is None
    s.revoke_token(record.id)
    assert s.authenticate(parse_secret(secret)) is None
    with pytest.raises(AccessError, match="no API token"):
        s.revoke_token(record.id)
    with pytest.raises(AccessError, match="role"):
        s.add_token("x", "agent")  # agents come from the agent registry
    with pytest.raises(AccessError, match="role"):
        s.add_token("x", "root")


def test_basic_auth_carries_the_token_as_password() -> None:
    secret = "hvt_0123456789ab_abc"
    header = "Basic " + base64.b64encode(f"grafana:{secret}".encode()).decode()
    assert from_authorization(header) == parse_secret(secret)
    assert from_authorization(f"Bearer {secret}") == parse_secret(secret)
    assert from_authorization(f"bearer   {secret}  ") == parse_secret(secret)
    assert from_authorization(None) is None
    for bad in ("Basic", "Basic !!!", "Basic " + base64.b64encode(b"user:").decode(), "Token x"):
        with pytest.raises(BadCredentials) as err:
            from_authorization(bad)
        assert "!!!" not in str(err.value)


def test_rotation_keeps_the_old_secret_for_the_grace_period() -> None:
    clock = Clock()
    s = store(clock=clock)
    agent, old = s.add_agent("web-1", "agent-1")
    rotated, new = s.rotate_agent(agent.id, 60.0)
    assert rotated.id == agent.id and new != old
    assert s.authenticate(parse_secret(old)) is not None
    assert s.authenticate(parse_secret(new)) is not None
    clock.now += 61
    assert s.authenticate(parse_secret(old)) is None
    principal = s.authenticate(parse_secret(new))
    assert principal is not None and (principal.host, principal.agent_id) == ("web-1", "agent-1")
    _again, newest = s.rotate_agent(agent.id, 0.0)
    assert s.authenticate(parse_secret(new)) is None  # no grace: the previous one is gone
    assert s.authenticate(parse_secret(newest)) is not None


def test_an_agent_is_pinned_once_and_a_host_has_one_open_registration() -> None:
    s = store()
    agent, _secret = s.add_agent("db-1")
    with pytest.raises(AccessError, match="already has agent"):
        s.add_agent("db-1")
    assert s.pin(agent.id, "first")
    assert not s.pin(agent.id, "second")
    assert s.pinned_agent_id(agent.id) == "first"
    assert s.unpin(agent.id).agent_id is None
    assert s.pin(agent.id, "second")


def test_another_process_sees_changes_and_last_use_is_saved(tmp_path: Path) -> None:
    collector, cli = store(tmp_path), store(tmp_path)
    assert not collector.has_credentials()
    record, secret = cli.add_token("script", "operator")
    assert collector.has_credentials()
    assert collector.authenticate(parse_secret(secret)) is not None
    assert collector.tokens()[0].last_used_at is not None
    assert cli.tokens()[0].last_used_at is None
    collector.flush_usage()
    assert cli.tokens()[0].last_used_at is not None
    cli.revoke_token(record.id)
    assert collector.authenticate(parse_secret(secret)) is None
