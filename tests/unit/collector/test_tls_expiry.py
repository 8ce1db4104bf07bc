"""Reading a certificate's notAfter for the expiry metric, checked against openssl's own
reading, for UTCTime (before 2050) and GeneralizedTime (from 2050) validities."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hostvitals.collector.tls.expiry import (
    METRIC,
    BadCertificate,
    CertificateExpiry,
    file_not_after,
    not_after,
)


def self_signed(tmp_path: Path, name: str, days: int) -> Path:
    pem = tmp_path / f"{name}.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-keyout", str(tmp_path / f"{name}.key"), "-out", str(pem)),
            *("-days", str(days), "-subj", f"/CN={name}"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return pem


def openssl_not_after(pem: Path) -> float:
    out = subprocess.run(
        ["openssl", "x509", "-enddate", "-noout", "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return float(ssl.cert_time_to_seconds(out.strip().removeprefix("notAfter=")))


@pytest.mark.parametrize("days", [1, 400, 12000])  # 12000 days: past 2049, GeneralizedTime
def test_not_after_is_what_openssl_reads(tmp_path: Path, days: int) -> None:
    pem = self_signed(tmp_path, "one", days)
    assert file_not_after(pem, first=True) == openssl_not_after(pem)


def test_a_bundle_gives_its_first_certificate_or_the_one_that_expires_first(
    tmp_path: Path,
) -> None:
    long, short = self_signed(tmp_path, "long", 90), self_signed(tmp_path, "short", 3)
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(long.read_text() + short.read_text())
    assert file_not_after(bundle, first=True) == openssl_not_after(long)
    assert file_not_after(bundle, first=False) == openssl_not_after(short)


def test_what_is_no_certificate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadCertificate):
        not_after(b"\x30\x03\x02\x01\x01")
    with pytest.raises(BadCertificate):
        not_after(b"\x30\x82")
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    with pytest.raises(BadCertificate):
        file_not_after(empty, first=True)


def test_the_gauge_keeps_its_value_when_a_file_cannot_be_read(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    expiry = CertificateExpiry(registry)
    server, ca = self_signed(tmp_path, "server", 30), self_signed(tmp_path, "ca", 60)
    expiry.update(server, ca)
    assert registry.get_sample_value(METRIC, {"what": "server"}) == openssl_not_after(server)
    assert registry.get_sample_value(METRIC, {"what": "client_ca"}) == openssl_not_after(ca)
    before = registry.get_sample_value(METRIC, {"what": "server"})
    server.write_text("not a certificate\n")
    expiry.update(server, None)
    assert registry.get_sample_value(METRIC, {"what": "server"}) == before
