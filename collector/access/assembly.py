"""The access check's parts, built from the settings: the credential stores (each on its own
state-database connection), the guessing throttle, the peer token and the authenticator
that joins them, and what SIGHUP or a file change reads again."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from hostvitals.collector import statedb
from hostvitals.collector.access.authn import Authenticator, is_loopback
from hostvitals.collector.access.enrollment import EnrollmentStore
from hostvitals.collector.access.peertoken import PeerToken
from hostvitals.collector.access.store import AccessStore
from hostvitals.collector.access.throttle import Throttle
from hostvitals.collector.access.users import UserStore
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.config.tiers import Where
from hostvitals.collector.ingest.auth import load_tokens
from hostvitals.collector.reload import Reloads
from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.shared.masking import register_secret, register_secret_url


@dataclass(slots=True)
class Access:
    authn: Authenticator
    store: AccessStore
    users: UserStore
    enrollment: EnrollmentStore
    throttle: Throttle
    peer_token: PeerToken
    _connections: tuple[sqlite3.Connection, ...]

    def close(self) -> None:
        for conn in self._connections:
            conn.close()


def build_access(settings: Settings, metrics: SelfMetrics) -> Access:
    """The access check's parts; the configured secrets are registered with the masking
    policy first, so no log line shows them. Raises ConfigError when the tokens file
    cannot be read."""
    auth = settings.auth
    legacy_tokens = load_tokens(auth)
    peer_token = PeerToken(settings.cluster.peer_token_file)
    register_secrets(settings, legacy_tokens, peer_token.secret)
    access_conn = statedb.connect(settings.state.dir)
    store = AccessStore(access_conn)
    user_conn = statedb.connect(settings.state.dir)  # its own: the users' transactions
    users = UserStore(user_conn, idle_s=auth.session_idle_s, absolute_s=auth.session_max_s)
    throttle = Throttle(
        limit=auth.guess_limit,
        base_s=auth.guess_backoff_s,
        max_s=auth.guess_backoff_max_s,
        forget_s=auth.guess_forget_s,
        size=auth.guess_table_size,
        registry=metrics.registry,
    )
    enrollment_conn = statedb.connect(settings.state.dir)
    enrollment = EnrollmentStore(enrollment_conn, store)
    authn = Authenticator(
        store,
        legacy_tokens,
        loopback=is_loopback(settings.server.host),
        allow_anonymous=auth.allow_anonymous,
        users=users,
        throttle=throttle,
        enrollment=enrollment,
        peer=peer_token,
    )
    return Access(
        authn,
        store,
        users,
        enrollment,
        throttle,
        peer_token,
        (user_conn, access_conn, enrollment_conn),
    )


def register_secrets(
    settings: Settings, legacy_tokens: Sequence[str], peer_token: str | None = None
) -> None:
    """Tell the masking policy the configured secrets, so no log line shows them."""
    for token in (*legacy_tokens, peer_token):
        register_secret(token)
    places: list[Where] = [settings.victoriametrics, *settings.tiers.rollups]
    for url in (url for place in places for url in place.urls()):
        register_secret(urlsplit(url).password)  # vmauth in front of VictoriaMetrics
    for notifier in settings.alerts.notifiers:
        register_secret_url(notifier.url)
        if notifier.smtp_password is not None:
            register_secret(notifier.smtp_password.get_secret_value())


def add_access_reloads(
    reloads: Reloads, settings: Settings, authn: Authenticator, store: AccessStore
) -> None:
    """Register what the access check reads again on SIGHUP or a file change: the legacy
    tokens file, and the credentials in the state database (read within a second anyway;
    SIGHUP makes it now)."""
    reloads.add("credentials", store.invalidate)
    tokens_file = settings.auth.tokens_file
    if tokens_file is not None:
        reloads.add(
            "auth.tokens_file",
            lambda: authn.replace_legacy_tokens(load_tokens(settings.auth)),
            [tokens_file],
        )
