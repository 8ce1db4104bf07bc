"""The pure parts of delivery: what an HTTP status means for a frame, Retry-After, encodings,
request headers."""

from __future__ import annotations

import email.utils
import enum
import gzip
import importlib.util
import ipaddress
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from hostvitals.agent.config.model import DeliveryConfig
from hostvitals.shared.protocol import CONTENT_TYPE

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
USER_AGENT = "hostvitals-agent/0.1"


class Action(enum.Enum):
    DONE = "done"
    """Delivered: remove the frame."""
    DROP = "drop"
    """The collector will never take this frame: remove it, count its samples, log why."""
    AUTH = "auth"
    """Token missing or wrong: keep the frame and back off until the operator fixes it."""
    THROTTLED = "throttled"
    """Overloaded or storage down: keep the frame and wait as long as Retry-After says."""
    RETRY = "retry"
    """Anything else: keep the frame and retry with exponential backoff."""


DROP_STATUSES = frozenset({400, 413, 415, 422})
AUTH_STATUSES = frozenset({401, 403})
THROTTLE_STATUSES = frozenset({429, 503})


def classify(status: int) -> Action:
    """What to do with a frame the collector answered with ``status``."""
    if 200 <= status < 300:
        return Action.DONE
    if status in DROP_STATUSES:
        return Action.DROP
    if status in AUTH_STATUSES:
        return Action.AUTH
    if status in THROTTLE_STATUSES:
        return Action.THROTTLED
    return Action.RETRY


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unparsable. A date in the past means 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def zstd_available() -> bool:
    return importlib.util.find_spec("zstandard") is not None


Compressor = Callable[[bytes], bytes]


def compressor(name: str) -> tuple[str | None, Compressor | None]:
    """The Content-Encoding and function for a configured compression.

    ``zstd`` falls back to ``gzip`` when the zstandard module is not installed.
    """
    if name == "zstd" and zstd_available():
        import zstandard

        zstd = zstandard.ZstdCompressor(level=3)
        return "zstd", zstd.compress
    if name in ("zstd", "gzip"):
        return "gzip", lambda data: gzip.compress(data, compresslevel=6, mtime=0)
    if name == "none":
        return None, None
    raise ValueError(f"unknown compression {name!r}")


def request_headers(encoding: str | None, token: str | None) -> dict[str, str]:
    """The headers of an ingest request with body ``encoding`` and bearer ``token``."""
    headers = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT}
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def plaintext_credential_urls(urls: Iterable[str], token: str | None) -> list[str]:
    """The collector URLs a token would be sent to in clear text: ``http://`` to an address
    that is not this machine's loopback (a name other than localhost counts as remote)."""
    if not token:
        return []
    exposed = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
            exposed.append(url)
    return exposed


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_plaintext_credentials(delivery: DeliveryConfig, warned: set[str]) -> None:
    """Warn once per collector URL (remembered in ``warned``) that would get the token over
    plain HTTP, and at each call while the collector's certificate goes unchecked (the
    agent calls it at start and at each reload)."""
    if delivery.insecure_skip_verify:
        log.warning(
            "INSECURE: insecure_skip_verify is on: the collector's TLS certificate is NOT "
            "checked, so anyone on the path can pose as the collector, read the token and "
            "the frames; set ca_file instead"
        )
    for url in plaintext_credential_urls(delivery.collector_urls, delivery.token):
        if url not in warned:
            warned.add(url)
            log.warning(
                "the collector token is sent in clear text to %s (plain HTTP to a remote "
                "address): anyone on the path can read it and push frames as this host; "
                "use an https:// URL",
                url,
            )
