"""``hostvitals-collector users``: add, list, passwd, set-role, remove; a running collector on
the same state directory applies each change to the next request."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hostvitals.collector import __main__ as cli
from tests.support.collector_app import running, settings

PASSWORD = "a password of some length"


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: Path,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main([*argv, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    path = tmp_path / "collector.yaml"
    path.write_text(f"state:\n  dir: {tmp_path / 'state'}\n")
    return path


async def test_users_commands_apply_to_a_running_collector(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    add = ("users", "add", "alice", "--role", "viewer")
    code, out, err = run(capsys, monkeypatch, config, *add, stdin=PASSWORD + "\n")
    assert code == 0 and out == "" and PASSWORD not in err
    code, generated, _ = run(capsys, monkeypatch, config, "users", "add", "bob", "--role",
                             "admin", "--generate")  # fmt: skip
    assert code == 0 and len(generated.strip()) >= 16
    assert run(capsys, monkeypatch, config, *add, stdin=PASSWORD + "\n")[0] == 1  # exists
    code, listing, _ = run(capsys, monkeypatch, config, "users", "list")
    assert code == 0 and "alice" in listing and "bob" in listing and "admin" in listing
    assert PASSWORD not in listing and "argon" not in listing

    state = settings(state={"dir": str(config.parent / "state")})
    async with running(state) as (_app, client, _vm):
        login = {"username": "alice", "password": PASSWORD}
        assert (await client.post("/api/v1/login", json=login)).status_code == 200
        assert (await client.get("/api/v1/tokens")).status_code == 403
        assert run(capsys, monkeypatch, config, "users", "set-role", "alice", "admin")[0] == 0
        assert (await client.get("/api/v1/tokens")).status_code == 200
        passwd = ("users", "passwd", "alice")
        assert run(capsys, monkeypatch, config, *passwd, stdin="new password!\n")[0] == 0
        assert (await client.get("/api/v1/hosts")).status_code == 401  # the session ended
        assert (await client.post("/api/v1/login", json=login)).status_code == 401
        login["password"] = "new password!"
        assert (await client.post("/api/v1/login", json=login)).status_code == 200
        assert run(capsys, monkeypatch, config, "users", "remove", "alice")[0] == 0
        assert (await client.get("/api/v1/hosts")).status_code == 401
        # Every change is in the audit log, as done by the OS user who ran the command.
        bob = {"username": "bob", "password": generated.strip()}
        assert (await client.post("/api/v1/login", json=bob)).status_code == 200
        audit = (await client.get("/api/v1/audit", params={"limit": 100})).json()["data"]
        by_cli = [
            (r["action"], r["target"], r["result"], r["detail"].get("changed"))
            for r in reversed(audit["records"])
            if r["subject"].startswith("cli:")
        ]
        assert by_cli == [
            ("user.add", "alice", "ok", None),
            ("user.add", "bob", "ok", None),
            ("user.add", "alice", "failed", None),
            ("user.change", "alice", "ok", "role"),
            ("user.change", "alice", "ok", "password"),
            ("user.remove", "alice", "ok", None),
        ]
        assert PASSWORD not in str(audit) and "new password!" not in str(audit)
    code, _, err = run(capsys, monkeypatch, config, "users", "passwd", "bob", stdin="short\n")
    assert code == 1 and "8 to 1024" in err and "short" not in err.replace("8 to 1024", "")
