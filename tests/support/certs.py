"""Certificates made at run time by the repository's own script (`make certs`)."""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "certs" / "make-certs.sh"


@dataclass(frozen=True)
class Certs:
    """What ``make-certs.sh`` made in ``dir``: a CA, a server certificate, agent ones."""

    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def server(self) -> tuple[Path, Path]:
        return self.dir / "server.pem", self.dir / "server.key"

    def agent(self, host: str) -> tuple[Path, Path]:
        return self.dir / f"agent-{host}.pem", self.dir / f"agent-{host}.key"


def make_certs(
    out: Path, *agent_hosts: str, days: int = 2, server_names: Sequence[str] = ()
) -> Certs:
    """Run the script into ``out`` (a CA there is reused) for ``agent_hosts``, valid for
    ``days``; the server certificate names ``server_names`` too (``$SERVER_NAMES``)."""
    subprocess.run(
        ["bash", str(SCRIPT), str(out), *agent_hosts],
        check=True,
        capture_output=True,
        timeout=60,
        env={**os.environ, "DAYS": str(days), "SERVER_NAMES": " ".join(server_names)},
    )
    return Certs(out)


def fingerprint_of_file(pem: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(pem.read_text())
    return hashlib.sha256(der).hexdigest()


def client_context(ca: Path | None, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=None if ca is None else str(ca))
    if ca is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(*cert)
    return context
