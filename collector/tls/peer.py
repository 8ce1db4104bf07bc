"""The verified client certificate of a connection, as the access check sees it.

The HTTP protocol (:mod:`.protocol`) puts it in each request's ASGI scope under
:data:`SCOPE_KEY`, only when the TLS handshake verified the certificate against
``tls.client_ca_file``; a client cannot set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

SCOPE_KEY: Final = "hostvitals.peer_certificate"


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """The names a client certificate vouches for: its subject's CN and its DNS SANs."""

    common_name: str | None
    dns_names: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every host name the certificate is for, the CN first."""
        first = (self.common_name,) if self.common_name else ()
        return tuple(dict.fromkeys((*first, *self.dns_names)))

    @property
    def primary(self) -> str:
        return self.names[0] if self.names else ""

    @classmethod
    def from_peercert(cls, cert: Mapping[str, Any] | None) -> PeerCertificate | None:
        """From :meth:`ssl.SSLSocket.getpeercert`'s dict: None when there is no verified
        certificate (``getpeercert`` gives None or an empty dict then)."""
        if not cert:
            return None
        common_name = None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    common_name = str(value)
        dns = tuple(str(v) for k, v in cert.get("subjectAltName", ()) if k == "DNS")
        return cls(common_name, dns)
