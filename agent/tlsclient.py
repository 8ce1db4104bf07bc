"""The agent's TLS client context, and what tells that its files changed.

The agent trusts the system's CAs, or only ``ca_file`` when set; it presents
``client_cert``/``client_key`` to a collector that asks for one (mTLS: the certificate's CN or
DNS name is the host the collector lets it write). ``insecure_skip_verify`` turns the
collector's certificate check off, for a test bench only: the agent logs it loudly.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterable
from pathlib import Path

Stamp = tuple[int, int, int, int] | None


class TlsFilesError(Exception):
    """A CA, certificate or key file cannot be used; the message says which and why."""


def client_context(
    ca_file: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    *,
    insecure_skip_verify: bool = False,
) -> ssl.SSLContext:
    """A context for HTTPS to the collector; raises TlsFilesError."""
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsFilesError(f"ca_file: cannot use {ca_file}: {_why(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        try:
            context.load_cert_chain(client_cert, client_key)
        except (OSError, ssl.SSLError) as exc:
            raise TlsFilesError(
                f"client_cert: cannot use {client_cert} with key {client_key}: {_why(exc)}"
            ) from None
    return context


def stamps(paths: Iterable[Path | None]) -> tuple[Stamp, ...]:
    """(device, inode, size, mtime) of each file, None for one that is absent: a file
    replaced by a rename or rewritten in place gives a different stamp."""
    out: list[Stamp] = []
    for path in paths:
        if path is None:
            continue
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
