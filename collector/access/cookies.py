"""The session cookie and the CSRF checks that go with it.

The cookie (``hostvitals_session``) is HttpOnly, SameSite=Strict, ``Path=/``, and Secure when
the request came over TLS. A cookie is an ambient credential (the browser sends it whoever
made the page that asks), so a state-changing request authenticated by it must also carry
the session's CSRF token in ``X-CSRF-Token`` and, when the browser sends ``Origin``, come
from this collector's own origin. Requests with a bearer token or basic auth are exempt:
no browser adds those by itself.
"""

from __future__ import annotations

import hmac
from http.cookies import CookieError, SimpleCookie
from typing import Final
from urllib.parse import urlsplit

from starlette.types import Scope

COOKIE: Final = "hostvitals_session"
CSRF_HEADER: Final = "x-csrf-token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def session_secret(scope: Scope) -> str | None:
    """The session cookie's value, if the request has one."""
    raw = header(scope, b"cookie")
    if not raw or COOKIE not in raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return None if morsel is None or not morsel.value else morsel.value


def same_origin(scope: Scope) -> bool:
    """False when the request names an ``Origin`` that is not this collector's (by host)."""
    origin = header(scope, b"origin")
    if origin is None:
        return True
    host = header(scope, b"host")
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    if not host or not netloc:
        return False
    return _strip_default_port(netloc) == _strip_default_port(host)


def _strip_default_port(netloc: str) -> str:
    netloc = netloc.strip().lower()
    for suffix in (":80", ":443"):
        if netloc.endswith(suffix):
            return netloc[: -len(suffix)]
    return netloc


def csrf_ok(scope: Scope, expected: str) -> bool:
    sent = header(scope, CSRF_HEADER.encode())
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


def set_cookie_header(secret: str, *, secure: bool, max_age_s: int) -> str:
    parts = [f"{COOKIE}={secret}", "Path=/", "HttpOnly", "SameSite=Strict", f"Max-Age={max_age_s}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_cookie_header(*, secure: bool) -> str:
    return set_cookie_header("", secure=secure, max_age_s=0)
