"""``hostvitals-agent enroll`` against a real collector: an enrollment token becomes this
agent's own credential, the configuration and token file are written, a second run changes
nothing, and what it wrote is what the agent then runs with."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hostvitals.agent.config import load_config
from tests.support.certs import make_certs
from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, wait_until
from tests.support.tls_collector import tls_collector

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def collector_cli(config: Path, *argv: str) -> str:
    result = subprocess.run(
        [str(BIN / "hostvitals-collector"), *argv, "--config", str(config)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout.strip()


def answers(url: str) -> bool:
    """Any HTTP answer (health is 503 here: no VictoriaMetrics runs)."""
    try:
        requests.get(url, timeout=1)
    except requests.RequestException:
        return False
    return True


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    config = tmp_path / "collector.yaml"
    config.write_text(
        f"server:\n  port: {port}\nstate:\n  dir: {tmp_path / 'collector-state'}\n"
        f"victoriametrics:\n  url: http://127.0.0.1:{free_port()}\n"
    )
    env = {"HOSTVITALS_CONFIG": str(config)}
    proc = ManagedProcess(
        [str(BIN / "hostvitals-collector"), "serve"], tmp_path / "collector.log", env
    )
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/api/v1/health"), 60, "the collector", step=0.2)
        yield url, config
    finally:
        proc.stop()


def seen_by_collector(url: str, secret: str, verify: str | bool = True) -> None:
    """Wait until the collector has read a credential the CLI just made (within a second)."""

    def known() -> bool:
        answer = requests.get(
            f"{url}/api/v1/agents/self",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=2,
            verify=verify,
        )
        return answer.status_code != 200 or answer.json()["data"]["kind"] != "anonymous"

    wait_until(known, 10, "the collector to read its new credential", step=0.1)


def enroll(tmp_path: Path, url: str, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "hostvitals-agent"), "enroll", "--collector", url, "--token", token,
         "--config", str(tmp_path / "agent.toml"), "--token-file", str(tmp_path / "agent.token"),
         "--state-dir", str(tmp_path / "agent-state"), "--host", "web-1", *extra],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("HOSTVITALS")},
    )  # fmt: skip


def test_enroll_with_an_enrollment_token_then_again_changes_nothing(
    tmp_path: Path, collector: tuple[str, Path]
) -> None:
    url, config = collector
    token = collector_cli(config, "enrollment", "create", "--name", "test")
    seen_by_collector(url, token)
    # An annotated configuration, as the package ships it: comments and other keys stay.
    (tmp_path / "agent.toml").write_text(
        '# shipped\n# token_file = "/etc/hostvitals/agent.token"\ninterval = 5\n\n'
        "[samplers.processes]\nenabled = false\n"
    )
    first = enroll(tmp_path, url, token)
    assert first.returncode == 0, first.stderr
    assert "enrolled host 'web-1'" in first.stdout and "systemd is not running" in first.stdout
    secret = (tmp_path / "agent.token").read_text().strip()
    assert secret.startswith("hva_") and token not in secret
    assert stat.S_IMODE((tmp_path / "agent.token").stat().st_mode) == 0o600
    text = (tmp_path / "agent.toml").read_text()
    assert text.startswith("# shipped\n") and "enabled = false" in text
    settings = tomllib.loads(text)
    assert settings["collector_urls"] == [url] and settings["interval"] == 5
    loaded = load_config(tmp_path / "agent.toml", environ={})
    assert loaded.delivery.token == secret and loaded.host == "web-1"
    agent_id = (tmp_path / "agent-state" / "agent_id").read_text().strip()
    assert agent_id in collector_cli(config, "agents", "list")

    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("agent.*")}
    second = enroll(tmp_path, url, token)
    assert second.returncode == 0, second.stderr
    assert "nothing to change" in second.stdout and "enrolled host" not in second.stdout
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("agent.*")}
    assert after == before
    assert collector_cli(config, "agents", "list").count("web-1") == 1


def test_enroll_with_an_agent_credential_and_refusals(
    tmp_path: Path, collector: tuple[str, Path]
) -> None:
    url, config = collector
    secret = collector_cli(config, "agents", "add", "--host", "web-1")
    seen_by_collector(url, secret)
    done = enroll(tmp_path, url, secret, "--no-start")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "agent.token").read_text().strip() == secret
    assert "systemd" not in done.stdout

    # Another host's credential, an unknown one, an enrollment for a host taken already.
    wrong = enroll(tmp_path / "other", url, secret, "--host", "db-1")
    assert wrong.returncode == 1 and "not this host 'db-1'" in wrong.stderr
    unknown = enroll(tmp_path / "other", url, secret[:-3] + "xyz")
    assert unknown.returncode == 1 and "refuses the credential (401)" in unknown.stderr
    token = collector_cli(config, "enrollment", "create", "--name", "test")
    taken = enroll(tmp_path / "other", url, token)
    assert taken.returncode == 1 and "(409)" in taken.stderr and "admin" in taken.stderr
    assert not (tmp_path / "other" / "agent.token").exists()
    down = enroll(tmp_path / "other", f"http://127.0.0.1:{free_port()}", secret)
    assert down.returncode == 1 and "does not answer" in down.stderr


def test_enroll_over_https_trusts_the_ca_file_and_writes_it(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    vm = VictoriaMetrics(tmp_path / "vm")
    vm.start()
    state = {"HOSTVITALS__STATE__DIR": str(tmp_path / "collector-state")}
    env = {**state, "HOSTVITALS__VICTORIAMETRICS__URL": vm.url}
    try:
        with tls_collector(tmp_path, certs, env) as collector:
            token = subprocess.run(
                [str(BIN / "hostvitals-collector"), "enrollment", "create", "--name", "t"],
                capture_output=True, text=True, check=True, timeout=60,
                env={**os.environ, "HOSTVITALS_CONFIG": "", **state},
            ).stdout.strip()  # fmt: skip
            url = f"https://localhost:{collector.port}"
            seen_by_collector(url, token, str(certs.ca))
            untrusted = enroll(tmp_path / "a", url, token)
            assert untrusted.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
            done = enroll(tmp_path / "b", url, token, "--ca-file", str(certs.ca), "--no-start")
            assert done.returncode == 0, done.stderr
    finally:
        vm.stop()
    settings = tomllib.loads((tmp_path / "b" / "agent.toml").read_text())
    assert settings["ca_file"] == str(certs.ca) and settings["collector_urls"] == [url]
