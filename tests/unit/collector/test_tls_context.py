"""The collector's TLS context: unusable files stop the start with one line, and a reload
with bad files leaves the live context as it was."""

from __future__ import annotations

import contextlib
import shutil
import ssl
from pathlib import Path

import pytest

from hostvitals.collector.config.loader import ConfigError
from hostvitals.collector.config.settings import TlsSettings
from hostvitals.collector.tls.context import ServerTls, TlsFilesError
from tests.support.certs import make_certs


def test_a_missing_or_mismatched_file_is_a_config_error(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs", "web-1")
    cert, key = certs.server
    with pytest.raises(ConfigError, match=r"tls: cannot use certificate .*server\.pem"):
        ServerTls(TlsSettings(cert_file=cert, key_file=tmp_path / "absent.key"))
    agent_key = certs.agent("web-1")[1]
    with pytest.raises(ConfigError, match="cannot use certificate"):
        ServerTls(TlsSettings(cert_file=cert, key_file=agent_key))
    with pytest.raises(ConfigError, match="client CA file"):
        ServerTls(TlsSettings(cert_file=cert, key_file=key, client_ca_file=cert.with_name("x")))


def served(server: ssl.SSLContext, ca: Path) -> bytes:
    """The certificate a handshake with ``server`` gets now (in memory, no socket)."""
    client = ssl.create_default_context(cafile=str(ca))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    near = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    far = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, outbox, peer_in in ((near, c_out, s_in), (far, s_out, c_in)):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
            peer_in.write(outbox.read())
    der = near.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_bad_reload_keeps_the_live_context(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs", "web-1")
    newer = make_certs(tmp_path / "newer", "web-1")
    live = tmp_path / "live"
    live.mkdir()
    for name in ("server.pem", "server.key", "ca.pem"):
        shutil.copy(certs.dir / name, live / name)
    tls = ServerTls(
        TlsSettings(
            cert_file=live / "server.pem",
            key_file=live / "server.key",
            client_ca_file=live / "ca.pem",
        )
    )
    context = tls.context
    assert context.verify_mode is ssl.CERT_OPTIONAL
    assert tls.files == (live / "server.pem", live / "server.key", live / "ca.pem")
    first = served(context, certs.ca)
    assert first == ssl.PEM_cert_to_DER_cert((certs.dir / "server.pem").read_text())
    shutil.copy(newer.dir / "server.pem", live / "server.pem")  # its key is not there yet
    with pytest.raises(TlsFilesError, match="cannot use certificate"):
        tls.reload()
    assert served(context, certs.ca) == first
    shutil.copy(newer.dir / "server.key", live / "server.key")
    tls.reload()
    # The same object the listening socket holds now serves the new certificate.
    assert tls.context is context
    assert served(context, newer.ca) == ssl.PEM_cert_to_DER_cert(
        (newer.dir / "server.pem").read_text()
    )
