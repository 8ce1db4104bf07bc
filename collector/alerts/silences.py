"""Silences: label matchers that mute matching alerts between ``starts_at`` and ``ends_at``.

Matchers follow Alertmanager: ``name``, ``value``, ``is_regex`` (fully anchored RE2-like
regular expression) and ``is_equal`` (false negates). A silence must have at least one
matcher that does not match the empty string, so it cannot mute everything by accident.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

SilenceState = Literal["pending", "active", "expired"]

MAX_MATCHERS: Final = 32
MAX_NAME_CHARS: Final = 256
MAX_VALUE_CHARS: Final = 1024
MAX_COMMENT_CHARS: Final = 4096
MAX_CREATED_BY_CHARS: Final = 256
REJECT_REASONS: Final = ("invalid", "too_large", "too_many")


class SilenceError(ValueError):
    """A silence request is invalid; the message says why, ``reason`` is one of
    :data:`REJECT_REASONS` (for the refusals' counter)."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class SilenceRows(Protocol):
    """Where silences are kept (:class:`~.silencestore.SilenceStore`): one row each."""

    def put(self, doc: Mapping[str, Any]) -> None: ...

    def delete(self, ids: Iterable[str]) -> None: ...


def _check_size(what: str, text: str, most: int) -> None:
    if len(text) > most:
        raise SilenceError(f"{what} is {len(text)} characters long, at most {most}", "too_large")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(
        cls, name: str, value: str, is_regex: bool = False, is_equal: bool = True
    ) -> Matcher:
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise SilenceError(f"matcher name {name!r} is not a valid label name")
        pattern = None
        if is_regex:
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise SilenceError(f"matcher {name}: invalid regular expression: {exc}") from None
        return cls(name, value, is_regex, is_equal, pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self._pattern is not None:
            hit = self._pattern.fullmatch(actual) is not None
        else:
            hit = actual == self.value
        return hit == self.is_equal

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


@dataclass(slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        if now >= self.ends_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.state(now) == "active" and all(m.matches(labels) for m in self.matchers)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_json() for m in self.matchers],
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "createdBy": self.created_by,
            "comment": self.comment,
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Silence:
        return cls(
            id=str(doc["id"]),
            matchers=tuple(
                Matcher.create(m["name"], m["value"], bool(m["isRegex"]), bool(m["isEqual"]))
                for m in doc["matchers"]
            ),
            starts_at=float(doc["startsAt"]),
            ends_at=float(doc["endsAt"]),
            created_by=str(doc["createdBy"]),
            comment=str(doc["comment"]),
            updated_at=float(doc["updatedAt"]),
        )


class Silences:
    """The silences: at most ``max_count`` pending or active at once. Expired ones do not
    count; they are forgotten after ``retention_s``, or sooner, oldest first, when more than
    ``max_count`` of them are kept. Every change is written to ``rows`` when given."""

    def __init__(
        self, max_count: int, retention_s: float = 86_400.0, rows: SilenceRows | None = None
    ) -> None:
        self._max = max_count
        self._retention = retention_s
        self._items: dict[str, Silence] = {}
        self.rows = rows
        self.version = 0
        """Grows with every change that can mute or unmute an alert (for the dispatcher)."""

    def add(
        self,
        matchers: list[Matcher],
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str,
        now: float,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> Silence:
        if not matchers:
            raise SilenceError("a silence needs at least one matcher")
        if len(matchers) > MAX_MATCHERS:
            raise SilenceError(
                f"a silence has at most {MAX_MATCHERS} matchers, not {len(matchers)}", "too_large"
            )
        for m in matchers:
            _check_size("a matcher's name", m.name, MAX_NAME_CHARS)
            _check_size(f"matcher {m.name}'s value", m.value, MAX_VALUE_CHARS)
        _check_size("createdBy", created_by, MAX_CREATED_BY_CHARS)
        _check_size("comment", comment, MAX_COMMENT_CHARS)
        if all(m.matches({}) for m in matchers):
            raise SilenceError(
                "at least one matcher must not match an empty label value, "
                "or the silence would mute every alert"
            )
        if not created_by.strip():
            raise SilenceError("createdBy must not be empty")
        if not comment.strip():
            raise SilenceError("comment must not be empty")
        if ends_at <= starts_at:
            raise SilenceError("endsAt must be after startsAt")
        if ends_at <= now:
            raise SilenceError("endsAt must be in the future")
        self.collect(now)
        in_force = sum(1 for s in self._items.values() if s.state(now) != "expired")
        if in_force >= self._max:
            raise SilenceError(
                f"too many silences pending or active (at most {self._max}); expire some first",
                "too_many",
            )
        silence = Silence(new_id(), tuple(matchers), starts_at, ends_at, created_by, comment, now)
        self._items[silence.id] = silence
        self.version += 1
        self._write(silence)
        return silence

    def _write(self, silence: Silence) -> None:
        if self.rows is not None:
            self.rows.put(silence.to_json())

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """End a silence now; None when there is no such silence. Expiring twice is a no-op."""
        silence = self._items.get(silence_id)
        if silence is None:
            return None
        if silence.state(now) != "expired":
            silence.ends_at = now
            silence.starts_at = min(silence.starts_at, now)
            silence.updated_at = now
            self.version += 1
            self._write(silence)
        return silence

    def get(self, silence_id: str) -> Silence | None:
        return self._items.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self._items.values(), key=lambda s: (s.starts_at, s.id))

    def muted_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [s.id for s in self._items.values() if s.mutes(labels, now)]

    def next_change(self, now: float) -> float:
        """The next time after ``now`` a silence starts or ends (infinity: none will)."""
        return min(
            (t for s in self._items.values() for t in (s.starts_at, s.ends_at) if t > now),
            default=math.inf,
        )

    def collect(self, now: float) -> None:
        expired = sorted(
            (s for s in self._items.values() if s.state(now) == "expired"),
            key=lambda s: s.ends_at,
        )
        too_many = max(0, len(expired) - self._max)
        gone = [
            s.id for i, s in enumerate(expired) if i < too_many or now - s.ends_at > self._retention
        ]
        for sid in gone:
            del self._items[sid]
        if gone and self.rows is not None:
            self.rows.delete(gone)

    def load(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Take saved silences in (their rows are not written again)."""
        for doc in docs:
            silence = Silence.from_json(doc)
            self._items[silence.id] = silence
            self.version += 1

    def dump(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self._items.values()]
