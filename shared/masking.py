"""The masking policy: what a log line, an error shown by the API or a status page must not
show, and the log-record hook that applies it to every record of the process.

Always masked:

- credentials after ``Bearer`` or ``Basic``, and hostvitals secrets (``hvt_<id>_...``,
  ``hva_<id>_...``: the public id stays, the secret part goes);
- values of secret-looking keys: ``token``, ``password``, ``secret``, ``api_key``, ... in
  ``key=value``, ``key: value`` and JSON ``"key": "value"`` form;
- the user and password in a URL (``https://user:pw@host``), every URL's query, and its
  path when the URL is a registered secret one (a webhook's) or a path segment looks like a
  key (16 or more letters and digits, mixed);
- any value registered with :func:`register_secret` (configured tokens, SMTP passwords,
  webhook URLs);
- e-mail addresses (the domain stays, for diagnosis).

Optionally (``mask_ips``): IPv4 and IPv6 addresses.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final
from urllib.parse import urlsplit

MASK: Final = "***"
_MIN_REGISTERED: Final = 8  # shorter values would mask ordinary words (and are weak anyway)

_KEYS: Final = (
    r"(?:access_|api_|auth_|bearer_|client_|refresh_|session_|smtp_)?"
    r"(?:token|tokens|password|passwd|pwd|secret|api_?key|credentials?)"
)
_KEY_VALUE: Final = re.compile(
    r"""(?ix)
    (?P<key>(?<![.\w])["']?"""
    + _KEYS
    + r"""["']?)
    (?P<sep>\s*[=:]\s*)
    (?P<q>["'])?
    (?P<value>(?(q)[^"'\n]+|[^\s&,;"'}\]]+))
    """
)
_SCHEME_CREDENTIAL: Final = re.compile(r"(?i)\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=:\-]+")
_OUR_SECRET: Final = re.compile(r"\b(hv[ta]_[0-9a-f]{12})_[A-Za-z0-9_\-]+")
_URL: Final = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+")
_EMAIL: Final = re.compile(r"(?i)\b[a-z0-9._%+\-]+@((?:[a-z0-9\-]+\.)+[a-z]{2,})\b")
_IPV4: Final = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6: Final = re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])")
_KEYLIKE_SEGMENT: Final = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9_\-]{16,}$")

_lock = threading.Lock()
_registered: set[str] = set()
_secret_urls: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (a configured token or password)."""
    if value and len(value) >= _MIN_REGISTERED:
        with _lock:
            _registered.add(value)


def register_secret_url(url: str | None) -> None:
    """A URL whose path and query are secret (a webhook's): masked as scheme://host/***."""
    if not url:
        return
    parts = urlsplit(url)
    secret = url[len(f"{parts.scheme}://{parts.netloc}") :]
    with _lock:
        _secret_urls.add(url)
    if secret.strip("/"):
        register_secret(secret)


def redact_url(url: str) -> str:
    """``url`` with its user, password, path and query hidden: for showing where a notifier
    sends without showing how to send there."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    rest = "/" + MASK if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _mask_url(match: re.Match[str]) -> str:
    url = match.group(0)
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    with _lock:
        secret = url in _secret_urls
    path = parts.path
    if secret and path.strip("/"):
        path = "/" + MASK
    else:
        path = "/".join(MASK if _KEYLIKE_SEGMENT.match(seg) else seg for seg in path.split("/"))
    query = f"?{MASK}" if parts.query else ""
    fragment = f"#{MASK}" if parts.fragment else ""
    return f"{parts.scheme}://{netloc}{path}{query}{fragment}"


def _ip(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return "<ip>"


def mask(text: str, *, mask_ips: bool = False) -> str:
    """``text`` with everything the policy hides replaced."""
    text = _URL.sub(_mask_url, text)
    with _lock:
        registered = sorted(_registered, key=len, reverse=True)
    for value in registered:
        if value in text:
            text = text.replace(value, MASK)
    text = _SCHEME_CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _OUR_SECRET.sub(lambda m: f"{m.group(1)}_{MASK}", text)
    text = _KEY_VALUE.sub(
        lambda m: f"{m.group('key')}{m.group('sep')}{m.group('q') or ''}{MASK}", text
    )
    text = _EMAIL.sub(lambda m: f"{MASK}@{m.group(1)}", text)
    if mask_ips:
        text = _IPV4.sub(_ip, text)
        text = _IPV6.sub(_ip, text)
    return text


def _masked_arg(value: Any, mask_ips: bool) -> Any:
    if isinstance(value, str):
        return mask(value, mask_ips=mask_ips)
    if value is None or isinstance(value, int | float | bytes):
        return value
    return mask(str(value), mask_ips=mask_ips)


_installed: list[Callable[..., logging.LogRecord]] = []


def install_log_masking(*, mask_ips: bool = False) -> None:
    """Mask every log record of this process as it is made (whichever logger, handler or
    formatter deals with it later: uvicorn's, the root's, a test's). Calling it again only
    changes ``mask_ips``."""
    base = _installed[0] if _installed else logging.getLogRecordFactory()
    if not _installed:
        _installed.append(base)

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        _mask_record(record, mask_ips)
        return record

    logging.setLogRecordFactory(factory)


def uninstall_log_masking() -> None:
    if _installed:
        logging.setLogRecordFactory(_installed.pop())


# Loggers whose formatters read ``record.args`` themselves: their arguments are masked one by
# one instead of being merged into the message.
_ARGS_KEPT: Final = frozenset({"uvicorn.access"})


def _mask_record(record: logging.LogRecord, mask_ips: bool) -> None:
    if record.name in _ARGS_KEPT and isinstance(record.args, tuple):
        record.args = tuple(_masked_arg(a, mask_ips) for a in record.args)
    else:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format: logging reports it; mask what is there
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask(message, mask_ips=mask_ips), ()
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = mask(text, mask_ips=mask_ips)


def registered_secrets() -> Iterable[str]:
    """What :func:`register_secret` was given (tests)."""
    with _lock:
        return tuple(_registered)
