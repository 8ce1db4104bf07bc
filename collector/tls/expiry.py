"""When the collector's certificates expire, as a metric:
``hostvitals_collector_tls_certificate_expiry_timestamp_seconds{what}``.

``what`` is ``server`` (the served certificate, the first of ``tls.cert_file``) or
``client_ca`` (the CA in ``tls.client_ca_file`` that expires first). The value is the
certificate's ``notAfter`` as Unix seconds, set at start and after each reload, so an alert
can say ``... - time() < 14 * 86400``. The standard library reads a certificate file but does
not decode one, so :func:`not_after` reads the validity out of the DER itself (X.509's
``TBSCertificate``: version, serial, signature, issuer, then validity).
"""

from __future__ import annotations

import calendar
import logging
import re
import ssl
import time
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)

METRIC: Final = "hostvitals_collector_tls_certificate_expiry_timestamp_seconds"
_PEM: Final = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class BadCertificate(ValueError):
    """The bytes are not a certificate whose validity can be read."""


def _element(der: bytes, at: int) -> tuple[int, int, int]:
    """The DER element at ``at``: (tag, start of its content, end of its content)."""
    if at + 2 > len(der):
        raise BadCertificate("truncated")
    tag, length = der[at], der[at + 1]
    start = at + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise BadCertificate("bad length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise BadCertificate("truncated")
    return tag, start, start + length


def _time(tag: int, text: bytes) -> float:
    value = text.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        year = int(value[:2])
        value = f"{1900 + year if year >= 50 else 2000 + year}{value[2:]}"
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise BadCertificate("the validity is not a time")
    if not value.endswith("Z") or len(value) != 15:
        raise BadCertificate("the validity is not a UTC time")
    return float(calendar.timegm(time.strptime(value[:-1], "%Y%m%d%H%M%S")))


def not_after(der: bytes) -> float:
    """A DER certificate's ``notAfter``, in Unix seconds."""
    tag, start, _end = _element(der, 0)  # Certificate
    if tag != 0x30:
        raise BadCertificate("not a certificate")
    tag, at, tbs_end = _element(der, start)  # TBSCertificate
    if tag != 0x30:
        raise BadCertificate("not a certificate")
    fields: list[tuple[int, int, int]] = []
    while at < tbs_end and len(fields) < 5:
        tag, content, end = _element(der, at)
        if not (tag == 0xA0 and not fields):  # the optional [0] version
            fields.append((tag, content, end))
        at = end
    if len(fields) < 4 or fields[3][0] != 0x30:
        raise BadCertificate("no validity")
    _serial, _signature, _issuer, (_tag, at, validity_end) = fields[:4]
    _tag, _start, at = _element(der, at)  # notBefore
    tag, content, end = _element(der, at)  # notAfter
    if end > validity_end:
        raise BadCertificate("bad validity")
    return _time(tag, der[content:end])


def file_not_after(path: Path, *, first: bool) -> float:
    """The ``notAfter`` of a PEM file's first certificate (``first``), or the earliest of
    all its certificates."""
    found = _PEM.findall(path.read_text(encoding="ascii", errors="replace"))
    if not found:
        raise BadCertificate(f"{path} holds no certificate")
    times = [not_after(ssl.PEM_cert_to_DER_cert(pem)) for pem in found[: 1 if first else None]]
    return min(times)


class CertificateExpiry:
    """The expiry gauge of the served certificate and the client CA."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            METRIC,
            "When a certificate of the collector expires (notAfter, Unix seconds), by what: "
            "server (the served certificate) or client_ca (the client CA that expires "
            "first). Set at start and on every TLS reload.",
            ("what",),
            registry=registry,
        )

    def update(self, cert_file: Path, client_ca_file: Path | None) -> None:
        """Read the files again. A file whose validity cannot be read leaves its value as it
        was, with a warning: the certificates are in use already, the metric must not undo
        a reload."""
        files = {"server": (cert_file, True), "client_ca": (client_ca_file, False)}
        for what, (path, first) in files.items():
            if path is None:
                continue
            try:
                self.gauge.labels(what).set(file_not_after(path, first=first))
            except (OSError, ValueError) as exc:
                log.warning("cannot read when %s expires: %s", path, exc)
