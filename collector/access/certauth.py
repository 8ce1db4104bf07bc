"""Agents known by their client certificate (mTLS).

On ``POST /api/v1/ingest``, a certificate that the TLS handshake verified against
``tls.client_ca_file`` is the agent's identity: its CN and DNS names are the hosts it may
write (:func:`~hostvitals.collector.access.binding.frame_check` holds every frame to them).
Sent together with an agent credential, both must agree: the credential's host must be one
of the certificate's names.
"""

from __future__ import annotations

from hostvitals.collector.access.roles import Principal, Role
from hostvitals.collector.tls.peer import PeerCertificate


def certificate_principal(peer: PeerCertificate) -> Principal:
    return Principal(
        "certificate",
        Role.AGENT,
        id=peer.primary,
        name=peer.primary,
        host=peer.primary,
        names=peer.names,
    )


def confirm(principal: Principal, peer: PeerCertificate) -> Principal | str:
    """The ingest request's principal given its credential's ``principal`` and its
    certificate; a message instead when the two disagree."""
    if principal.kind == "agent":
        if principal.host in peer.names:
            return principal
        return (
            f"the agent credential is for host {principal.host!r} but the client certificate "
            f"is for {', '.join(repr(n) for n in peer.names) or 'no name'}"
        )
    # A legacy token (bound to no host) or the open mode: the certificate binds the host.
    return certificate_principal(peer)
