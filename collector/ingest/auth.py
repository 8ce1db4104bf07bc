"""The legacy ingest tokens of ``auth.tokens`` and ``auth.tokens_file``, and their check.

These tokens are bound to no host: whoever holds one may push frames as any host. The agent
registry (:mod:`hostvitals.collector.access.store`) binds a credential to its host; the access
check (:mod:`hostvitals.collector.access.middleware`) accepts both.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from pathlib import Path

from hostvitals.collector.config.loader import ConfigError
from hostvitals.collector.config.settings import AuthSettings
from hostvitals.collector.errors import IngestRejected

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def load_tokens(settings: AuthSettings) -> tuple[str, ...]:
    """The configured tokens plus those in ``tokens_file`` (one per line, ``#`` comments)."""
    tokens = [t.get_secret_value() for t in settings.tokens]
    if settings.tokens_file is not None:
        tokens.extend(_read_tokens_file(settings.tokens_file))
    return tuple(dict.fromkeys(tokens))


def _read_tokens_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error: auth.tokens_file: cannot read {path}: {exc}") from None
    tokens = []
    for line in text.splitlines():
        token = line.split("#", 1)[0].strip()
        if token:
            tokens.append(token)
    if not tokens:
        raise ConfigError(f"config error: auth.tokens_file: {path} holds no token")
    return tokens


class BearerAuth:
    """Checks ``Authorization: Bearer <token>`` against the configured tokens.

    The comparison runs over every configured token whatever matched, with
    ``hmac.compare_digest``, so the answer's timing says nothing about the tokens.
    With no token configured every request is let through.
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(t.encode() for t in tokens)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def knows(self, presented: str) -> bool:
        """Whether ``presented`` is one of the tokens (compared with every one of them)."""
        raw = presented.encode()
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(raw, token)
        return matched

    def check(self, authorization: str | None) -> None:
        """Raise a 401 :class:`IngestRejected` unless the header carries a known token."""
        if not self._tokens:
            return
        if not authorization:
            raise IngestRejected(
                401, "unauthorized", "missing Authorization: Bearer token", headers=_CHALLENGE
            )
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise IngestRejected(
                401,
                "unauthorized",
                "the Authorization header must be 'Bearer <token>'",
                headers=_CHALLENGE,
            )
        if not self.knows(credentials.strip()):
            raise IngestRejected(401, "unauthorized", "unknown bearer token", headers=_CHALLENGE)
