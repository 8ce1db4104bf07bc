"""A real collector process serving HTTPS, with real handshakes: client certificates on
ingest (mTLS), the certificate as the agent's identity, and reloads without a restart (a
certificate replaced on disk, a CA added, the legacy tokens file on SIGHUP)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from hostvitals.collector.tls.expiry import METRIC as EXPIRY
from hostvitals.collector.tls.expiry import file_not_after
from hostvitals.shared.codec import encode_frame
from tests.integration.collector.test_ingest_victoriametrics import exported
from tests.support.certs import Certs, client_context, fingerprint_of_file, make_certs
from tests.support.frames import catalogue_frame, ticks_ending_now
from tests.support.processes import VictoriaMetrics, wait_until
from tests.support.tls_collector import TlsCollector, collector_command, tls_collector

pytestmark = pytest.mark.integration

RUN = uuid.uuid4().hex[:8]
AGENT_HOST = f"tls-web-{RUN}"
OTHER_HOST = f"tls-db-{RUN}"
INGEST = "/api/v1/ingest"
MSGPACK = {"Content-Type": "application/x-msgpack"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("ca-one"), AGENT_HOST)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """Another CA, with a certificate for the same agent host, valid for longer."""
    return make_certs(tmp_path_factory.mktemp("ca-two"), AGENT_HOST, days=30)


def add_viewer(env: dict[str, str]) -> str:
    return subprocess.run(
        [collector_command(), "tokens", "add", "--name", "tls-test", "--role", "viewer"],
        env={**os.environ, "HOSTVITALS_CONFIG": "", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


def frame_body(host: str) -> bytes:
    return encode_frame(catalogue_frame(host, ticks_ending_now(2), agent_id=f"agent-{host}"))


def post(
    collector: TlsCollector,
    body: bytes,
    cert: tuple[Path, Path] | None = None,
    token: str | None = None,
) -> requests.Response:
    headers = dict(MSGPACK)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        collector.url + INGEST,
        data=body,
        headers=headers,
        cert=None if cert is None else (str(cert[0]), str(cert[1])),
        verify=str(collector.certs.ca),
        timeout=10,
    )


def handshake_refused(port: int, ca: Path, cert: tuple[Path, Path]) -> str:
    """How a client with ``cert`` is refused: a TLS error, or the connection closed with no
    answer (TLS 1.3 tells the client after its side of the handshake, on its first read);
    fails when the request gets an HTTP answer."""
    context = client_context(ca, cert)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
                answer = tls.recv(1024)
        except (ssl.SSLError, ConnectionResetError) as exc:
            return str(exc)
    if answer == b"":
        return "closed without an answer"
    raise AssertionError(f"the handshake went through: {answer[:80]!r}")


def state_env(tmp_path: Path, victoria_metrics: VictoriaMetrics) -> dict[str, str]:
    return {
        "HOSTVITALS__VICTORIAMETRICS__URL": victoria_metrics.url,
        "HOSTVITALS__STATE__DIR": str(tmp_path / "state"),
        "HOSTVITALS__TIERS__ROLLUPS": "[]",
    }


def test_ingest_takes_only_the_right_client_certificate_and_binds_its_host(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, certs: Certs, other_ca: Certs
) -> None:
    env = state_env(tmp_path, victoria_metrics)
    viewer = add_viewer(env)
    env["HOSTVITALS__TLS__REQUIRE_CLIENT_CERT_ON_INGEST"] = "true"
    with tls_collector(tmp_path, certs, env, client_ca=certs.ca) as collector:
        # No client certificate: the handshake is fine (other routes need none), ingest is not.
        refused = post(collector, frame_body(AGENT_HOST))
        assert refused.status_code == 401, refused.text
        assert "client certificate" in refused.json()["error"]
        denied = {"reason": "no_certificate", "need": "agent"}
        assert collector.metric(viewer, "hostvitals_collector_access_denied_total", denied) == 1

        # A certificate from another CA: the handshake itself fails.
        reason = handshake_refused(collector.port, certs.ca, other_ca.agent(AGENT_HOST))
        assert reason
        assert exported(victoria_metrics, AGENT_HOST) == {}

        # The right certificate, and no token: the certificate is the agent's identity.
        accepted = post(collector, frame_body(AGENT_HOST), cert=certs.agent(AGENT_HOST))
        assert accepted.status_code == 204, accepted.text
        assert exported(victoria_metrics, AGENT_HOST) != {}

        # The same certificate, a frame claiming another host: 403 and nothing written.
        forged = post(collector, frame_body(OTHER_HOST), cert=certs.agent(AGENT_HOST))
        assert forged.status_code == 403, forged.text
        assert OTHER_HOST in forged.json()["error"]
        mismatch = {"reason": "host_mismatch"}
        assert collector.metric(viewer, "hostvitals_collector_ingest_rejected_total", mismatch) == 1
        assert exported(victoria_metrics, OTHER_HOST) == {}


def test_a_certificate_replaced_on_disk_is_served_without_a_restart(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, certs: Certs, other_ca: Certs
) -> None:
    env = state_env(tmp_path, victoria_metrics)
    viewer = add_viewer(env)
    with tls_collector(tmp_path, certs, env) as collector:
        live = tmp_path / "live-certs"
        pid = collector.process.pid
        assert collector.served_fingerprint() == fingerprint_of_file(certs.server[0])
        served = {"what": "server"}
        expires = file_not_after(certs.server[0], first=True)
        assert collector.metric(viewer, EXPIRY, served) == expires

        # A broken certificate: the reload fails, is logged and counted; the old one serves.
        (live / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
        os.replace(live / "broken.pem", live / "server.pem")
        failed = {"what": "tls", "outcome": "failed"}
        wait_until(
            lambda: collector.metric(viewer, "hostvitals_collector_reloads_total", failed) >= 1,
            15,
            "the failed reload counted",
        )
        assert collector.served_fingerprint() == fingerprint_of_file(certs.server[0])
        assert "reloading tls failed" in collector.process.log_tail(200)

        # A new certificate and key, put in place by renames (key first).
        for name in ("server.key", "server.pem"):
            shutil.copy(other_ca.dir / name, live / f"new-{name}")
            os.replace(live / f"new-{name}", live / name)
        new = fingerprint_of_file(other_ca.server[0])
        wait_until(lambda: collector.served_fingerprint() == new, 15, "the new certificate")
        assert collector.process.pid == pid and collector.process.running()
        collector.certs = other_ca  # clients now verify the new certificate's CA
        ok = {"what": "tls", "outcome": "ok"}
        assert collector.metric(viewer, "hostvitals_collector_reloads_total", ok) >= 1
        later = file_not_after(other_ca.server[0], first=True)
        assert later > expires + 20 * 86400
        assert collector.metric(viewer, EXPIRY, served) == later


def test_a_ca_added_to_the_client_ca_file_is_trusted_without_a_restart(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, certs: Certs, other_ca: Certs
) -> None:
    env = state_env(tmp_path, victoria_metrics)
    viewer = add_viewer(env)
    client_ca = tmp_path / "client-ca.pem"
    shutil.copy(certs.ca, client_ca)
    host = f"tls-ca-{RUN}"
    second = make_certs(other_ca.dir, host)  # the other CA signs this agent's certificate
    with tls_collector(tmp_path, certs, env, client_ca=client_ca) as collector:
        handshake_refused(collector.port, certs.ca, second.agent(host))
        bundle = certs.ca.read_text() + other_ca.ca.read_text()
        (tmp_path / "client-ca.new").write_text(bundle)
        os.replace(tmp_path / "client-ca.new", client_ca)

        def accepted() -> bool:
            try:
                return post(collector, frame_body(host), cert=second.agent(host)).status_code == 204
            except requests.exceptions.RequestException:
                return False

        wait_until(accepted, 15, "the agent certificate of the added CA accepted")
        # The CA that expires first of the two (certs' own, made for two days).
        first_ca = min(file_not_after(c.ca, first=True) for c in (certs, other_ca))
        assert collector.metric(viewer, EXPIRY, {"what": "client_ca"}) == first_ca
        assert exported(victoria_metrics, host) != {}


def test_sighup_reloads_the_tokens_file(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, certs: Certs
) -> None:
    env = state_env(tmp_path, victoria_metrics)
    viewer = add_viewer(env)
    tokens = tmp_path / "tokens"
    tokens.write_text("old-token\n")
    env["HOSTVITALS__AUTH__TOKENS_FILE"] = str(tokens)
    env["HOSTVITALS__SERVER__RELOAD_CHECK_S"] = "3600"  # no file watch: only SIGHUP reloads
    host = f"tls-hup-{RUN}"
    with tls_collector(tmp_path, certs, env) as collector:
        assert post(collector, frame_body(host), token="old-token").status_code == 204
        tokens.write_text("# rotated\nnew-token\n")
        assert post(collector, frame_body(host), token="new-token").status_code == 401

        pid = collector.process.pid
        collector.process.signal(signal.SIGHUP)
        ok = {"what": "auth.tokens_file", "outcome": "ok"}
        wait_until(
            lambda: collector.metric(viewer, "hostvitals_collector_reloads_total", ok) == 1,
            15,
            "the tokens file reloaded",
        )
        assert post(collector, frame_body(host), token="new-token").status_code == 204
        assert post(collector, frame_body(host), token="old-token").status_code == 401
        assert collector.process.pid == pid and collector.process.running()
