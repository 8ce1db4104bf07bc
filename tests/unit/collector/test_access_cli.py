"""``hostvitals-collector tokens`` and ``agents``: secrets printed once, only hashes kept,
and a collector on the same state directory takes them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hostvitals.collector import __main__ as cli
from tests.support.access import bearer
from tests.support.collector_app import running, settings


def run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = cli.main([*argv, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    path = tmp_path / "collector.yaml"
    path.write_text(f"state:\n  dir: {tmp_path / 'state'}\n")
    return path


async def test_tokens_add_list_revoke(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    # (Another credential stays: revoking the last one would bring back the open mode.)
    assert run(capsys, config, "tokens", "add", "--name", "ops", "--role", "admin")[0] == 0
    add = ("tokens", "add", "--name", "grafana", "--role", "viewer")
    code, secret, err = run(capsys, config, *add)
    assert code == 0 and secret.startswith("hvt_") and "shown only now" in err
    secret = secret.strip()
    code, listing, _ = run(capsys, config, "tokens", "list")
    assert code == 0 and "grafana" in listing and "viewer" in listing and "ops" in listing
    assert secret not in listing
    token_id = secret.split("_")[1]
    assert token_id in listing

    state = settings(state={"dir": str(config.parent / "state")})
    async with running(state) as (_app, client, _vm):
        assert (await client.get("/api/v1/hosts", headers=bearer(secret))).status_code == 200
        assert (await client.get("/api/v1/hosts")).status_code == 401
        assert run(capsys, config, "tokens", "revoke", token_id)[0] == 0
        # The running collector sees the revocation within its refresh interval (1 s).
        for _ in range(40):
            if (await client.get("/api/v1/hosts", headers=bearer(secret))).status_code == 401:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the revoked token still works")
    assert run(capsys, config, "tokens", "revoke", token_id)[0] == 1


def test_agents_add_rotate_unpin_revoke(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, secret, _ = run(capsys, config, "agents", "add", "--host", "web-1")
    assert code == 0 and secret.startswith("hva_")
    ref = secret.split("_")[1]
    code, listing, _ = run(capsys, config, "agents", "list")
    assert "web-1" in listing and "pinned by its first frame" in listing
    assert secret.strip() not in listing
    code, rotated, err = run(capsys, config, "agents", "rotate", ref)
    assert code == 0 and rotated != secret and "valid until" in err
    assert run(capsys, config, "agents", "unpin", ref)[0] == 0
    assert run(capsys, config, "agents", "revoke", ref)[0] == 0
    code, _, err = run(capsys, config, "agents", "rotate", ref)
    assert code == 1 and "no agent" in err


def test_without_a_state_dir_nothing_is_made(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSTVITALS_CONFIG", raising=False)
    path = tmp_path / "empty.yaml"
    path.write_text("{}\n")
    code, out, err = run(capsys, path, "tokens", "add", "--name", "x", "--role", "admin")
    assert code == 1 and out == "" and "state.dir" in err
