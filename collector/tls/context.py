"""The collector's server-side TLS context, read again without a restart.

One :class:`ssl.SSLContext` lives as long as the server: the listening socket holds it, and
every handshake uses what it has then. A reload first loads the files into a scratch context
(a bad certificate, a key that does not match, an unreadable file raise there and the live
context keeps serving), then loads them into the live one: CPython's ``load_cert_chain`` on
a context in use applies to the handshakes after it. ``load_verify_locations`` adds the CAs
of ``client_ca_file``; OpenSSL cannot take a CA out of a context, so a CA removed from the
file stays trusted until a restart.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from hostvitals.collector.config.loader import ConfigError
from hostvitals.collector.config.settings import TlsSettings


class TlsFilesError(Exception):
    """A certificate, key or CA file cannot be used; the message says which and why."""


class ServerTls:
    def __init__(self, settings: TlsSettings) -> None:
        if settings.cert_file is None or settings.key_file is None:
            raise ValueError("ServerTls needs tls.cert_file and tls.key_file")
        self.cert_file: Path = settings.cert_file
        self.key_file: Path = settings.key_file
        self.client_ca_file = settings.client_ca_file
        try:
            self.context = self._build()
        except TlsFilesError as exc:
            raise ConfigError(f"config error: tls: {exc}") from None

    @property
    def files(self) -> tuple[Path, ...]:
        ca = () if self.client_ca_file is None else (self.client_ca_file,)
        return (self.cert_file, self.key_file, *ca)

    def reload(self) -> None:
        """Read the files again; raise TlsFilesError (the live context untouched) when they
        cannot be used."""
        self._build()
        try:
            self._load(self.context)
        except TlsFilesError:
            # The files changed between the two loads (a certificate written, its key not
            # yet): OpenSSL may have dropped the live key with the old certificate, so load
            # what is there now into the live context rather than wait for another change.
            self._build()
            self._load(self.context)

    def _build(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        if self.client_ca_file is not None:
            # Optional at the handshake, so that the other routes work without one; a
            # certificate that is presented must verify, or the handshake fails.
            context.verify_mode = ssl.CERT_OPTIONAL
        self._load(context)
        return context

    def _load(self, context: ssl.SSLContext) -> None:
        try:
            context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsFilesError(
                f"cannot use certificate {self.cert_file} with key {self.key_file}: {_why(exc)}"
            ) from None
        if self.client_ca_file is None:
            return
        try:
            context.load_verify_locations(cafile=self.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsFilesError(
                f"cannot use client CA file {self.client_ca_file}: {_why(exc)}"
            ) from None


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
