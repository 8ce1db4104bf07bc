"""Kinds of configuration values: how each is checked and converted, and how it is described.

A kind takes the raw value and whether it is text to be converted (from the environment or a
flag) or a value from the TOML file, and returns the checked value or raises ValueError with
the reason (``"must be between 1 and 60"``); the caller adds the key, the value and where it
came from. ``describe()`` says in a few words which values are allowed, for the
documentation table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from hostvitals.shared.codec import MAX_HOST_LEN

T = TypeVar("T")

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _shown(number: float) -> str:
    """A bound as the documentation shows it: 86400 as ``86,400``, 0.01 as ``0.01``."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


class Kind(Generic[T]):
    """A kind of value; subclasses implement ``parse`` and ``describe``."""

    def parse(self, value: Any, text: bool) -> T:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class Number(Kind[float]):
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def parse(self, value: Any, text: bool) -> float:
        if text:
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be a number") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ValueError(f"must be between {self.low:g} and {self.high:g}")
        return float(value)

    def describe(self) -> str:
        return f"{_shown(self.low)} to {_shown(self.high)}"


class Integer(Kind[int]):
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def parse(self, value: Any, text: bool) -> int:
        if text:
            try:
                value = int(value)
            except ValueError:
                raise ValueError("must be an integer") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if not self.low <= value <= self.high:
            raise ValueError(f"must be between {self.low} and {self.high}")
        return value

    def describe(self) -> str:
        return f"integer, {_shown(self.low)} to {_shown(self.high)}"


class Boolean(Kind[bool]):
    def parse(self, value: Any, text: bool) -> bool:
        if text and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("must be true or false")
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    def describe(self) -> str:
        return "true or false"


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


class Choice(Kind[str]):
    """One of a few words, case-insensitive; the value is the lower-case word."""

    def __init__(self, options: Sequence[str]) -> None:
        self.options = tuple(options)

    def parse(self, value: Any, text: bool) -> str:
        if not isinstance(value, str) or value.lower() not in self.options:
            raise ValueError(f"must be one of {', '.join(self.options)}")
        return value.lower()

    def describe(self) -> str:
        return ", ".join(f"`{option}`" for option in self.options)


class Regex(Kind[str]):
    def parse(self, value: Any, text: bool) -> str:
        pattern = _string(value)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression: {exc}") from None
        return pattern

    def describe(self) -> str:
        return "regular expression (searched, not anchored)"


class FilePath(Kind[Path]):
    def parse(self, value: Any, text: bool) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty path")
        return Path(value)

    def describe(self) -> str:
        return "path"


class OptionalPath(Kind[Path | None]):
    """A path; an empty string means none."""

    def parse(self, value: Any, text: bool) -> Path | None:
        if isinstance(value, str) and not value.strip():
            return None
        return FilePath().parse(value, text)

    def describe(self) -> str:
        return "path"


class OptionalText(Kind[str | None]):
    """A string, stripped; an empty one means none."""

    def parse(self, value: Any, text: bool) -> str | None:
        return _string(value).strip() or None

    def describe(self) -> str:
        return "string"


class HostName(Kind[str]):
    def parse(self, value: Any, text: bool) -> str:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        host = value.strip()
        if not host or len(host) > MAX_HOST_LEN or _CONTROL_RE.search(host):
            raise ValueError(f"must be 1-{MAX_HOST_LEN} printable characters")
        return host

    def describe(self) -> str:
        return f"1 to {MAX_HOST_LEN} printable characters"


def _url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} must not have a query or fragment")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    return value.strip().rstrip("/")


class Urls(Kind[tuple[str, ...]]):
    """One or more distinct http(s) URLs; a list in TOML, comma-separated as text."""

    def parse(self, value: Any, text: bool) -> tuple[str, ...]:
        if text and isinstance(value, str):
            value = [item for item in value.split(",") if item.strip()]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of URLs")
        if not value:
            raise ValueError("must name at least one collector URL")
        urls = tuple(_url(v) for v in value)
        if len(set(urls)) != len(urls):
            raise ValueError("must not list a URL twice")
        return urls

    def describe(self) -> str:
        return "list of http:// or https:// URLs (comma-separated in the environment)"
