"""What an audit record says: the actions, the results, who did it (:class:`Actor`), and the
bounds on a record's fields. :mod:`.audit` writes the records."""

from __future__ import annotations

import enum
import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from hostvitals.collector.access import auditchain
from hostvitals.collector.access.roles import Principal

MAX_DETAIL_BYTES: Final = 2048
MAX_FIELD: Final = 256


class Action(enum.StrEnum):
    LOGIN_SUCCESS = "login.success"
    LOGIN_FAILURE = "login.failure"
    LOGOUT = "logout"
    USER_ADD = "user.add"
    USER_CHANGE = "user.change"
    USER_REMOVE = "user.remove"
    TOKEN_ADD = "token.add"
    TOKEN_REVOKE = "token.revoke"
    AGENT_ADD = "agent.add"
    AGENT_ROTATE = "agent.rotate"
    AGENT_UNPIN = "agent.unpin"
    AGENT_REVOKE = "agent.revoke"
    AGENT_BINDING_DENIED = "agent.binding_denied"
    AGENT_ENROLL = "agent.enroll"
    ENROLLMENT_CREATE = "enrollment.create"
    ENROLLMENT_REVOKE = "enrollment.revoke"
    SILENCE_CREATE = "silence.create"
    SILENCE_EXPIRE = "silence.expire"
    ACCESS_DENIED = "access.denied"
    RELOAD = "config.reload"
    RETENTION = auditchain.RETENTION_ACTION


class Result(enum.StrEnum):
    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, as recorded: ``subject`` (a token's or user's name, an agent's
    host, ``cli:<os user>``), ``role`` and the id of the credential used."""

    subject: str
    role: str = ""
    credential_id: str = ""

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(f"{principal.kind}:{principal.name}", str(principal.role), principal.id)

    @classmethod
    def cli(cls) -> Actor:
        """The ``tokens`` and ``agents`` commands: whoever runs them on the collector's host."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return cls(f"cli:{user}", "admin")

    @classmethod
    def claimed(cls, name: str) -> Actor:
        """Someone not (yet) authenticated, by the name they gave (a failed login)."""
        return cls(f"claimed:{name}")


def clip(value: str | None) -> str:
    text = value or ""
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 3] + "..."


def bounded_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    if not detail:
        return {}
    encoded = orjson.dumps(dict(detail), default=str)
    if len(encoded) <= MAX_DETAIL_BYTES:
        loaded: dict[str, Any] = orjson.loads(encoded)
        return loaded
    return {"truncated": encoded[:MAX_DETAIL_BYTES].decode("utf-8", "replace")}
