"""Credentials: how secrets are made, hashed and read from a request's headers.

A secret is ``hv<kind>_<id>_<random>``: ``kind`` is ``t`` (an API token), ``a`` (an agent) or
``e`` (an enrollment token),
``id`` the public id of its record (12 hex digits) and ``random`` 32 bytes from
:mod:`secrets`, URL-safe base64. Only the SHA-256 of the whole secret is stored; a presented
secret is found by its id and its hash compared with :func:`hmac.compare_digest`. (A slow
password hash would add nothing: the secret has 256 bits of entropy.)

Clients send ``Authorization: Bearer <secret>`` or HTTP basic auth with any user name and the
secret as the password (Grafana's Prometheus data source can send either).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final, Literal

Kind = Literal["t", "a", "e"]
ID_HEX: Final = 12
_SECRET_BYTES: Final = 32


class BadCredentials(Exception):
    """The Authorization header is there but cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class Presented:
    """A secret taken from a request. ``kind`` and ``ref`` are set when it has our format."""

    secret: str
    kind: Kind | None
    ref: str | None


def new_id() -> str:
    return secrets.token_hex(ID_HEX // 2)


def new_secret(kind: Kind, ref: str) -> str:
    return f"hv{kind}_{ref}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret).encode(), stored_digest.encode())


def parse_secret(secret: str) -> Presented:
    kind: Kind | None = None
    if secret.startswith("hvt_"):
        kind = "t"
    elif secret.startswith("hva_"):
        kind = "a"
    elif secret.startswith("hve_"):
        kind = "e"
    ref = secret[4 : 4 + ID_HEX]
    if kind is None or len(secret) <= 5 + ID_HEX or secret[4 + ID_HEX] != "_":
        return Presented(secret, None, None)
    if not all(c in "0123456789abcdef" for c in ref):
        return Presented(secret, None, None)
    return Presented(secret, kind, ref)


def from_authorization(header: str | None) -> Presented | None:
    """The secret in an ``Authorization`` header; None when there is no header.

    Raises BadCredentials when the header is neither ``Bearer <secret>`` nor ``Basic`` with
    a password. The message never repeats the header.
    """
    if header is None or not header.strip():
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    scheme = scheme.lower()
    if scheme == "bearer" and value:
        return parse_secret(value)
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # bad base64 (binascii.Error), non-ASCII
            raise BadCredentials("the Basic credentials are not base64 of user:password") from None
        _user, colon, password = decoded.partition(":")
        if colon and password:
            return parse_secret(password)
        raise BadCredentials("basic auth needs the token as the password")
    raise BadCredentials("the Authorization header must be 'Bearer <token>' or basic auth")
