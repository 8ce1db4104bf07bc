"""The ``cluster`` section: replicas sharing a fleet, listed or found in DNS (see
``collector/live/cluster.py`` and ``collector/live/discovery.py``)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from hostvitals.collector.config.section import Section


class ClusterSettings(Section):
    """Replicas sharing a fleet behind a load balancer, listed or found in DNS (see
    collector/live/cluster.py and collector/live/discovery.py)."""

    peers: list[str] = Field(default_factory=list)
    """Replicas sharing a fleet behind a load balancer: the base URLs of all of them (this one
    may be listed too). The live answers (hosts, fleet, current values, processes, the live
    stream) and the HostDown rule then cover every replica's agents. The first one that
    answers leads alerting. With `peers_from_dns` too, these come first, in this order, and the
    addresses found follow. Empty: a single collector (or only the peers found in DNS)."""
    peers_from_dns: str | None = None
    """A URL whose host name is looked up in DNS (A and AAAA records) every
    `peer_dns_interval_s`; each address found is a peer at the URL's scheme and port, lowest
    address first. For a Kubernetes headless service
    (`https://collector-peers.hostvitals.svc:8000`) or a compose service name
    (`https://collector:8000`): replicas an autoscaler adds join without a config change. Over
    HTTPS every peer's certificate must name this host. A failed lookup keeps the last list and
    is counted in `hostvitals_collector_peer_discovery_failures_total`. Null: `peers` only."""
    peer_dns_interval_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    """Seconds between two lookups of `peers_from_dns`; a lookup taking longer fails."""
    peer_dns_nameservers: list[str] = Field(default_factory=list)
    """The DNS servers `peers_from_dns` asks, each an IP address with an optional port
    (`10.0.0.10`, `127.0.0.1:8600`, `[fd00::a]:53`), the name asked as given. Empty: the
    servers of /etc/resolv.conf, with its search domains and `ndots` (the hosts file is not
    read)."""
    peer_timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    """Seconds a peer gets to answer."""
    peer_cache_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    """Seconds a peer's answer is reused."""
    peer_token_file: Path | None = None
    """A file holding the cluster's peer token (one line, at least 16 characters; the same
    file on every replica). Each replica sends it to its peers as a bearer token, and a
    request presenting it has the `peer` role: the live view and the alerting API that
    replicas ask each other for, nothing else. Read again when it changes or on SIGHUP. Null:
    replicas send no credential (a cluster then needs the open mode)."""
    peer_ca_file: Path | None = None
    """CA certificates (PEM) that sign the peers' HTTPS certificates. Null: the collector's
    own `tls.client_ca_file` when set, else the system CAs. Read again with the peer token."""

    @field_validator("peers")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"peers must be http(s)://host:port URLs, not {url!r}")
        return value

    @field_validator("peers_from_dns")
    @classmethod
    def _dns_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            _ = parts.port  # raises ValueError for a port out of range
        except ValueError:
            raise ValueError(f"peers_from_dns has a bad port: {value!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"peers_from_dns must be an http(s)://name:port URL, not {value!r}")
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"peers_from_dns must name a host and port only, not {value!r}")
        if is_ip_address(parts.hostname):
            raise ValueError(f"peers_from_dns must name a host to look up, not {value!r}")
        return value

    @field_validator("peer_dns_nameservers")
    @classmethod
    def _nameservers(cls, value: list[str]) -> list[str]:
        for server in value:
            nameserver_address(server)  # raises ValueError saying what is wrong
        return value

    @property
    def clustered(self) -> bool:
        """Whether there are peers to ask: listed, or looked up in DNS."""
        return bool(self.peers) or self.peers_from_dns is not None


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def nameserver_address(text: str) -> tuple[str, int]:
    """``10.0.0.10``, ``10.0.0.10:5353``, ``fd00::a`` or ``[fd00::a]:53`` as (address, port)."""
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"peer_dns_nameservers: {text!r} is not [address]:port")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, digits = text.partition(":")
        if not digits.isdigit():
            raise ValueError(f"peer_dns_nameservers: {text!r} is not address:port")
        port = int(digits)
    if not is_ip_address(host):
        raise ValueError(f"peer_dns_nameservers: {text!r} is not an IP address (with a port)")
    if not 1 <= port <= 65535:
        raise ValueError(f"peer_dns_nameservers: the port of {text!r} is out of range")
    return host, port
