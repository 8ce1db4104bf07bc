"""The real agent pushing to a real collector over HTTPS with a client certificate (mTLS):
the certificate is the agent's identity, a host that is not the certificate's is refused,
and the agent reads its certificate and token files again when they change, without a
restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.agent_support import timestamps
from tests.e2e.conftest import StartAgent
from tests.support.certs import Certs, make_certs
from tests.support.processes import VictoriaMetrics, wait_until
from tests.support.tls_collector import collector_command, tls_collector

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
WEB = f"mtls-web-{RUN}"
FILES = f"mtls-files-{RUN}"

AGENT_ENV = {
    "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
    "HOSTVITALS_AGENT_RETRY_BACKOFF_MAX": "1",
    "HOSTVITALS_AGENT_CATCHUP_JITTER": "0",
    "HOSTVITALS_AGENT_FILE_CHECK_INTERVAL": "0.5",
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("mtls-ca"), WEB, FILES)


def collector_env(tmp_path: Path, vm: VictoriaMetrics) -> dict[str, str]:
    env = {
        "HOSTVITALS__VICTORIAMETRICS__URL": vm.url,
        "HOSTVITALS__STATE__DIR": str(tmp_path / "state"),
        "HOSTVITALS__TIERS__ROLLUPS": "[]",
    }
    # A viewer token: the collector is not in the open mode, ingest needs an identity.
    subprocess.run(
        [collector_command(), "tokens", "add", "--name", "mtls", "--role", "viewer"],
        env={**os.environ, "HOSTVITALS_CONFIG": "", **env},
        capture_output=True,
        timeout=60,
        check=True,
    )
    return env


def tls_env(certs: Certs, cert: tuple[Path, Path]) -> dict[str, str]:
    return {
        **AGENT_ENV,
        "HOSTVITALS_AGENT_CA_FILE": str(certs.ca),
        "HOSTVITALS_AGENT_CLIENT_CERT": str(cert[0]),
        "HOSTVITALS_AGENT_CLIENT_KEY": str(cert[1]),
    }


def test_the_agent_pushes_over_mtls_as_the_host_of_its_certificate(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, certs: Certs, start_agent: StartAgent
) -> None:
    env = {**collector_env(tmp_path, victoria_metrics)}
    env["HOSTVITALS__TLS__REQUIRE_CLIENT_CERT_ON_INGEST"] = "true"
    forged = f"mtls-forged-{RUN}"
    with tls_collector(tmp_path, certs, env, client_ca=certs.ca) as collector:
        agent = start_agent(collector.url, WEB, env=tls_env(certs, certs.agent(WEB)))
        # Another agent with the same certificate, reporting another host name.
        liar = start_agent(collector.url, forged, env=tls_env(certs, certs.agent(WEB)))
        try:
            wait_until(lambda: len(timestamps(victoria_metrics, WEB)) >= 3, 60, "frames stored")
        except TimeoutError as exc:
            raise AssertionError(agent.log_tail() + collector.process.log_tail()) from exc
        wait_until(lambda: "403" in liar.log_tail(200), 30, "the forged host refused")
        assert timestamps(victoria_metrics, forged) == []


def test_the_agent_reads_replaced_certificate_and_token_files_without_a_restart(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, certs: Certs, start_agent: StartAgent
) -> None:
    env = collector_env(tmp_path, victoria_metrics)
    tokens = tmp_path / "collector-tokens"
    tokens.write_text("right-token\n")
    env["HOSTVITALS__AUTH__TOKENS_FILE"] = str(tokens)
    other = make_certs(tmp_path / "other-ca", FILES)  # a CA the collector does not trust
    agent_dir = tmp_path / "agent-files"
    agent_dir.mkdir()
    cert, key = agent_dir / "agent.pem", agent_dir / "agent.key"
    shutil.copy(other.agent(FILES)[0], cert)
    shutil.copy(other.agent(FILES)[1], key)
    token_file = agent_dir / "token"
    token_file.write_text("wrong-token\n")
    agent_env = {**tls_env(certs, (cert, key)), "HOSTVITALS_AGENT_TOKEN_FILE": str(token_file)}
    with tls_collector(tmp_path, certs, env, client_ca=certs.ca) as collector:
        agent = start_agent(collector.url, FILES, env=agent_env)
        pid = agent.pid
        # Refused at the handshake: the collector does not trust the certificate's CA.
        wait_until(lambda: "failed (connection)" in agent.log_tail(200), 30, "a refused handshake")
        assert "401" not in agent.log_tail(200)
        assert timestamps(victoria_metrics, FILES) == []

        # The right certificate, put in place by renames: the handshake goes through, but
        # the token is wrong (a credential sent with a certificate must be valid).
        for source, target in ((certs.agent(FILES)[1], key), (certs.agent(FILES)[0], cert)):
            shutil.copy(source, agent_dir / "new")
            os.replace(agent_dir / "new", target)
        wait_until(lambda: "401" in agent.log_tail(200), 30, "the wrong token refused")
        assert timestamps(victoria_metrics, FILES) == []

        token_file.write_text("right-token\n")
        try:
            wait_until(lambda: timestamps(victoria_metrics, FILES) != [], 60, "frames stored")
        except TimeoutError as exc:
            raise AssertionError(agent.log_tail() + collector.process.log_tail()) from exc
        assert agent.pid == pid and agent.running()
