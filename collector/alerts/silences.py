"""Silences: label matchers that mute matching alerts between ``starts_at`` and ``ends_at``.

Matchers follow Alertmanager: ``name``, ``value``, ``is_regex`` (fully anchored RE2-like
regular expression) and ``is_equal`` (false negates). A silence must have at least one
matcher that does not match the empty string, so it cannot mute everything by accident.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SilenceState = Literal["pending", "active", "expired"]


class SilenceError(ValueError):
    """A silence request is invalid; the message says why."""


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
    """The silences, bounded in number; expired ones are forgotten after ``retention_s``."""

    def __init__(self, max_count: int, retention_s: float = 86_400.0) -> None:
        self._max = max_count
        self._retention = retention_s
        self._items: dict[str, Silence] = {}

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
        if len(self._items) >= self._max:
            raise SilenceError(f"too many silences (at most {self._max}); expire some first")
        silence = Silence(new_id(), tuple(matchers), starts_at, ends_at, created_by, comment, now)
        self._items[silence.id] = silence
        return silence

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """End a silence now; None when there is no such silence. Expiring twice is a no-op."""
        silence = self._items.get(silence_id)
        if silence is None:
            return None
        if silence.state(now) != "expired":
            silence.ends_at = now
            silence.starts_at = min(silence.starts_at, now)
            silence.updated_at = now
        return silence

    def get(self, silence_id: str) -> Silence | None:
        return self._items.get(silence_id)

    def all(self) -> list[Silence]:
        return sorted(self._items.values(), key=lambda s: (s.starts_at, s.id))

    def muted_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [s.id for s in self._items.values() if s.mutes(labels, now)]

    def collect(self, now: float) -> None:
        for sid in [s.id for s in self._items.values() if now - s.ends_at > self._retention]:
            del self._items[sid]

    def load(self, docs: list[Mapping[str, Any]]) -> None:
        for doc in docs:
            silence = Silence.from_json(doc)
            self._items[silence.id] = silence

    def dump(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self._items.values()]
