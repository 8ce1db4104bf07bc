"""`make run`'s credentials (deploy/local/credentials.sh): the first start makes an admin user,
a viewer and an admin API token and the local agent's credential, writes them to
var/local-credentials.env (mode 0600) and prints them once; a later start reuses them; and a
real collector and agent work with them."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import REPO, StartAgent, StartCollector, console_script
from tests.support.processes import wait_until

pytestmark = pytest.mark.e2e
SCRIPT = REPO / "deploy" / "local" / "credentials.sh"
KEYS = (
    "HOSTVITALS_ADMIN_USER",
    "HOSTVITALS_ADMIN_PASSWORD",
    "HOSTVITALS_VIEWER_TOKEN",
    "HOSTVITALS_ADMIN_TOKEN",
)


def run_script(var: Path, host: str) -> str:
    env = {
        **os.environ,
        "VAR": str(var),
        "BIN": str(Path(console_script("hostvitals-collector")).parent),
        "AGENT_HOST": host,
        "HOSTVITALS__STATE__DIR": str(var / "collector"),
        "HOSTVITALS_CONFIG": "",
    }
    done = subprocess.run(
        [str(SCRIPT)], env=env, cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_env(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    return {k: v for k, v in pairs if not k.startswith("#")}


def test_first_start_makes_them_later_starts_reuse_them(
    tmp_path: Path, start_collector: StartCollector, start_agent: StartAgent, host_name: str
) -> None:
    var = tmp_path / "var"
    first = run_script(var, host_name)
    creds_file = var / "local-credentials.env"
    creds = read_env(creds_file)
    assert tuple(creds) == KEYS
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((var / "agent.token").stat().st_mode) == 0o600
    assert all(value in first for value in creds.values())  # printed once...
    again = run_script(var, host_name)
    assert read_env(creds_file) == creds  # ...reused later, and not printed again
    assert not any(value in again for value in creds.values() if len(value) > 8)

    collector = start_collector(env={"HOSTVITALS__STATE__DIR": str(var / "collector")})
    url = collector.url
    viewer = {"Authorization": f"Bearer {creds['HOSTVITALS_VIEWER_TOKEN']}"}
    admin = {"Authorization": f"Bearer {creds['HOSTVITALS_ADMIN_TOKEN']}"}
    assert requests.get(f"{url}/api/v1/hosts", timeout=5).status_code == 401
    assert requests.get(f"{url}/api/v1/hosts", headers=viewer, timeout=5).status_code == 200
    assert requests.get(f"{url}/api/v1/tokens", headers=viewer, timeout=5).status_code == 403
    assert requests.get(f"{url}/api/v1/tokens", headers=admin, timeout=5).status_code == 200
    session = requests.Session()
    login = session.post(
        f"{url}/api/v1/login",
        json={
            "username": creds["HOSTVITALS_ADMIN_USER"],
            "password": creds["HOSTVITALS_ADMIN_PASSWORD"],
        },
        timeout=30,
    )
    assert login.status_code == 200 and login.json()["data"]["role"] == "admin"
    assert session.get(f"{url}/api/v1/users", timeout=5).status_code == 200

    # The local agent, with its own credential, reports as its host.
    start_agent(url, host_name, env={"HOSTVITALS_AGENT_TOKEN_FILE": str(var / "agent.token")})

    def reported() -> bool:
        hosts = requests.get(f"{url}/api/v1/hosts", headers=viewer, timeout=5).json()["data"]
        return host_name in str(hosts)

    wait_until(reported, 30, "the local agent to report", step=0.2)
    agents = requests.get(f"{url}/api/v1/agents", headers=admin, timeout=5).json()["data"]
    assert [a["host"] for a in agents] == [host_name]

    # Without the file, new credentials are made and the old tokens are revoked.
    creds_file.unlink()
    run_script(var, host_name)
    renewed = read_env(creds_file)
    assert renewed["HOSTVITALS_VIEWER_TOKEN"] != creds["HOSTVITALS_VIEWER_TOKEN"]

    def old_token_refused() -> bool:
        return requests.get(f"{url}/api/v1/hosts", headers=viewer, timeout=5).status_code == 401

    wait_until(old_token_refused, 10, "the old viewer token to be revoked", step=0.2)
