"""Wiring the cluster's peer credentials: which CA checks the peers' certificates, and the
reload of the peer token and that CA file (see :mod:`.peertoken` and
``collector/live/cluster.py``)."""

from __future__ import annotations

from pathlib import Path

from hostvitals.collector.access.peertoken import PeerToken
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.live.cluster import Cluster, peer_ssl_context
from hostvitals.collector.reload import Reloads
from hostvitals.shared.masking import register_secret


def peer_ca(settings: Settings) -> Path | None:
    """The CA file the peers' certificates are checked with (None: the system CAs)."""
    return settings.cluster.peer_ca_file or settings.tls.client_ca_file


def add_peer_reload(
    reloads: Reloads, settings: Settings, token: PeerToken, cluster: Cluster
) -> None:
    """Read the peer token and the peers' CA file again on SIGHUP or when one changes."""
    if token.path is None and settings.cluster.peer_ca_file is None:
        return
    ca = peer_ca(settings)

    def reload() -> None:
        # A CA file that cannot be read fails before the swap.
        tls = peer_ssl_context(ca) if settings.cluster.clustered else None
        token.reload()
        register_secret(token.secret)
        cluster.retrust(tls)

    files = [f for f in (token.path, ca) if f is not None]
    reloads.add("cluster.peers", reload, files)
