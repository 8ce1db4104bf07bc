"""A real ``hostvitals-collector`` process serving HTTPS, for the TLS and mTLS tests."""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.certs import Certs, client_context
from tests.support.processes import ManagedProcess, free_port, wait_until


def collector_command() -> str:
    path = Path(sys.executable).parent / "hostvitals-collector"
    found = str(path) if path.exists() else shutil.which("hostvitals-collector")
    if found is None:
        raise RuntimeError("hostvitals-collector is not installed; run `make venv`")
    return found


class TlsCollector:
    def __init__(self, process: ManagedProcess, port: int, certs: Certs) -> None:
        self.process = process
        self.port = port
        self.certs = certs

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def served_fingerprint(self) -> str:
        """SHA-256 of the certificate a new handshake gets now."""
        context = client_context(None)
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return hashlib.sha256(der).hexdigest()

    def metric(self, viewer: str, name: str, labels: dict[str, str]) -> float:
        """One sample of the collector's /metrics (0 when absent)."""
        answer = requests.get(
            f"{self.url}/metrics",
            headers={"Authorization": f"Bearer {viewer}"},
            verify=str(self.certs.ca),
            timeout=10,
        )
        answer.raise_for_status()
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0


def healthy(port: int, ca: Path) -> bool:
    try:
        return requests.get(f"https://localhost:{port}/api/v1/health", verify=str(ca), timeout=2).ok
    except (requests.RequestException, ssl.SSLError):
        return False


@contextmanager
def tls_collector(
    tmp: Path,
    certs: Certs,
    env: dict[str, str],
    *,
    client_ca: Path | None = None,
    port: int | None = None,
) -> Iterator[TlsCollector]:
    """A collector on ``port`` (else a free one) with ``certs``' server certificate (copied
    into ``tmp``, so a test may replace it), client certificates signed by ``client_ca``."""
    live = tmp / "live-certs"
    live.mkdir(parents=True, exist_ok=True)
    for name in ("server.pem", "server.key"):
        shutil.copy(certs.dir / name, live / name)
    port = free_port() if port is None else port
    settings = {
        "HOSTVITALS_CONFIG": "",
        "HOSTVITALS__TLS__CERT_FILE": str(live / "server.pem"),
        "HOSTVITALS__TLS__KEY_FILE": str(live / "server.key"),
        "HOSTVITALS__SERVER__RELOAD_CHECK_S": "0.2",
        **({} if client_ca is None else {"HOSTVITALS__TLS__CLIENT_CA_FILE": str(client_ca)}),
        **env,
    }
    process = ManagedProcess(
        [collector_command(), "serve", "--port", str(port)], tmp / "collector.log", env=settings
    )
    process.start()
    try:
        try:
            wait_until(lambda: healthy(port, certs.ca), 30, "collector health over HTTPS")
        except TimeoutError as exc:
            raise AssertionError(process.log_tail()) from exc
        yield TlsCollector(process, port, certs)
    finally:
        process.stop()
