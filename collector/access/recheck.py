"""Whether a request's credential still holds, asked again while a long request (the live
stream) is open.

The access check admits a request once, when it starts; a stream may stay open for hours.
:func:`credential_check` gives the stream a cheap function to call every few seconds: one
session lookup (without refreshing the session's idle time) or one token lookup in the
in-memory credential table, no password hash. It answers None while the credential holds,
else why it no longer does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from starlette.types import Scope

from hostvitals.collector.access import cookies
from hostvitals.collector.access.authn import Authenticator
from hostvitals.collector.access.credentials import BadCredentials, from_authorization
from hostvitals.collector.access.roles import SCOPE_KEY, Principal

SESSION_ENDED: Final = "session_ended"
CREDENTIAL_REVOKED: Final = "credential_revoked"
CREDENTIAL_NEEDED: Final = "credential_needed"
REASONS: Final = (SESSION_ENDED, CREDENTIAL_REVOKED, CREDENTIAL_NEEDED)
MESSAGES: Final = {
    SESSION_ENDED: "the session has ended (logged out, expired, or the user changed): log in again",
    CREDENTIAL_REVOKED: "the token was revoked",
    CREDENTIAL_NEEDED: "a credential is configured now: log in, or send a token",
}

Check = Callable[[], str | None]


def credential_check(scope: Scope, authn: Authenticator) -> Check:
    """For the request of ``scope`` (past the access check): a function that answers None
    while its credential still holds, else one of :data:`REASONS`."""
    principal: Principal | None = scope.get(SCOPE_KEY)
    if principal is None:
        return lambda: None  # the access check was not in front (a test's bare router)
    if principal.kind == "anonymous":
        return lambda: None if authn.open() else CREDENTIAL_NEEDED
    if principal.kind == "session":
        secret = cookies.session_secret(scope)
        if secret is None:
            return lambda: SESSION_ENDED

        def session() -> str | None:
            return None if authn.users.session(secret, touch=False) else SESSION_ENDED

        return session
    try:
        presented = from_authorization(cookies.header(scope, b"authorization"))
    except BadCredentials:
        presented = None
    if presented is None:
        return lambda: CREDENTIAL_REVOKED
    held = presented

    def token() -> str | None:
        now = authn.identify(held)
        return None if now is not None and now.role is principal.role else CREDENTIAL_REVOKED

    return token
