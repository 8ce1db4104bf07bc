"""Who a request is: its credential checked against the API tokens, the agent registry, the
legacy ingest tokens, the enrollment tokens and the users' sessions; and whether the
collector runs in the open mode.

The open mode is today's behaviour for a collector with no credential of any kind: every
route answers anyone. It holds only while the collector listens on loopback, or beyond it with
``auth.allow_anonymous``; :func:`check_exposure` refuses to start otherwise. It ends as soon as
a credential exists (one added at run time included).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from hostvitals.collector.access.credentials import Presented
from hostvitals.collector.access.enrollment import EnrollmentStore
from hostvitals.collector.access.peertoken import PEER, PeerToken
from hostvitals.collector.access.roles import Principal, Role
from hostvitals.collector.access.store import AccessStore
from hostvitals.collector.access.throttle import Throttle
from hostvitals.collector.access.users import UserStore
from hostvitals.collector.config.loader import ConfigError
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.ingest.auth import BearerAuth

log = logging.getLogger(__name__)

ANONYMOUS = Principal("anonymous", Role.ADMIN, name="anonymous")
ANONYMOUS_AGENT = Principal("anonymous", Role.AGENT, name="anonymous")
LEGACY_AGENT = Principal("legacy", Role.AGENT, name="auth.tokens")


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Authenticator:
    def __init__(
        self,
        store: AccessStore,
        legacy_tokens: Sequence[str],
        *,
        loopback: bool,
        allow_anonymous: bool,
        users: UserStore,
        throttle: Throttle,
        enrollment: EnrollmentStore | None = None,
        peer: PeerToken | None = None,
    ) -> None:
        self.store = store
        self.peer = peer if peer is not None else PeerToken(None)
        self.users = users
        self.throttle = throttle
        self.enrollment = enrollment
        self._legacy = BearerAuth(legacy_tokens)
        self.loopback = loopback
        self.allow_anonymous = allow_anonymous

    def replace_legacy_tokens(self, tokens: Sequence[str]) -> None:
        """Take a new set of legacy tokens (``auth.tokens_file`` read again)."""
        self._legacy = BearerAuth(tokens)

    @property
    def has_legacy_tokens(self) -> bool:
        return self._legacy.enabled

    def has_credentials(self) -> bool:
        if self._legacy.enabled or self.store.has_credentials() or self.users.has_users():
            return True
        return self.enrollment is not None and self.enrollment.has_tokens()

    def open(self) -> bool:
        """True while every route answers anyone: no credential exists, and the collector
        listens on loopback or ``auth.allow_anonymous`` is set. (A collector beyond loopback
        whose last credential was revoked answers nobody.)"""
        return (self.loopback or self.allow_anonymous) and not self.has_credentials()

    def anonymous_may_administer(self) -> bool:
        """In the open mode, whether the token and agent routes answer anyone: on loopback
        only, so that the first credential can be made there."""
        return self.loopback

    def identify(self, presented: Presented) -> Principal | None:
        """The principal behind a presented secret; None when no credential matches."""
        principal = self.store.authenticate(presented)
        if principal is not None:
            return principal
        if presented.kind == "e" and self.enrollment is not None:
            return self.enrollment.authenticate(presented)
        if presented.kind is None and self.peer.knows(presented.secret):
            return PEER
        if presented.kind is None and self._legacy.knows(presented.secret):
            return LEGACY_AGENT
        return None

    def identify_session(self, secret: str) -> Principal | None:
        """The user a session cookie stands for; None when it is unknown or expired."""
        return self.users.session(secret)


def check_exposure(settings: Settings, authn: Authenticator) -> None:
    """Refuse to serve beyond loopback with no credential (unless allowed); log what is weak.

    Raises ConfigError with a one-line message saying how to fix it.
    """
    host = settings.server.host
    if authn.has_legacy_tokens:
        log.warning(
            "auth.tokens/auth.tokens_file are legacy agent tokens bound to no host: a holder "
            "can push frames as any host; register agents with `hostvitals-collector agents "
            "add` (docs/security.md)"
        )
    if authn.has_credentials():
        return
    if authn.loopback:
        log.warning(
            "no credential is configured: every route answers anyone on this machine "
            "(listening on loopback %s); see docs/security.md",
            host,
        )
        return
    if settings.auth.allow_anonymous:
        log.warning(
            "no credential is configured and auth.allow_anonymous is true: every route except "
            "token and agent management answers anyone who can reach %s",
            host,
        )
        return
    raise ConfigError(
        f"refusing to listen on {host} with no credential configured: create one with "
        "`hostvitals-collector users add NAME --role admin`, `tokens add --name NAME --role "
        "admin` or `agents add --host H` "
        "(state.dir must be set), listen on 127.0.0.1, or set auth.allow_anonymous: true"
    )


def warn_plain_http(settings: Settings, authn: Authenticator) -> None:
    """Once the collector is going to serve: warn when that is plain HTTP beyond loopback."""
    if not authn.loopback and not settings.tls.enabled:
        log.warning(
            "serving plain HTTP on %s: tokens and metrics cross the network in clear; set "
            "tls.cert_file and tls.key_file (docs/security.md)",
            settings.server.host,
        )
