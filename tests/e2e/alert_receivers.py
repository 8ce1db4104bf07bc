"""Real notification receivers for alert tests: an aiohttp web server and an aiosmtpd server."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.processes import free_port


@dataclass
class WebReceiver:
    """Records JSON bodies per path; ``fail_first[path]`` requests are answered 500, and
    ``answer_after_s[path]`` holds each answer that long after the body is recorded."""

    port: int = field(default_factory=free_port)
    fail_first: dict[str, int] = field(default_factory=dict)
    answer_after_s: dict[str, float] = field(default_factory=dict)
    bodies: dict[str, list[Any]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        with self._lock:
            n = self.attempts[request.path] = self.attempts.get(request.path, 0) + 1
            if n <= self.fail_first.get(request.path, 0):
                return web.Response(status=500, text="try again")
            self.bodies.setdefault(request.path, []).append(body)
        await asyncio.sleep(self.answer_after_s.get(request.path, 0.0))
        return web.Response(status=200, text="ok")

    def received(self, path: str) -> list[Any]:
        with self._lock:
            return list(self.bodies.get(path, []))

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="web-receiver", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("web receiver did not start")

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.messages.append(message_from_bytes(content))
        return "250 OK"


class _Login:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.attempts = 0  # logins tried, right or wrong

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.attempts += 1
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok)


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


class SmtpReceiver:
    """aiosmtpd with STARTTLS required (or implicit TLS) and a login; ``plaintext``: no TLS
    at all, and AUTH offered anyway (a server the notifier must not log in to unasked)."""

    def __init__(
        self, cert: Path, key: Path, *, implicit_tls: bool = False, plaintext: bool = False
    ) -> None:
        import ssl

        self.port = free_port()
        self.user, self.password = "alerts", "s3cret"
        self.mailbox = _Mailbox()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self.login = _Login(self.user, self.password)
        kwargs: dict[str, Any] = {
            "hostname": "127.0.0.1",
            "port": self.port,
            "authenticator": self.login,
        }
        if plaintext:
            kwargs["auth_require_tls"] = False
        elif implicit_tls:
            # The whole connection is TLS; aiosmtpd only knows about TLS it negotiated itself
            # (STARTTLS), so its default of requiring TLS for AUTH would hide AUTH here.
            kwargs["ssl_context"] = context
            kwargs["auth_require_tls"] = False
        else:
            kwargs["auth_require_tls"] = True
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        self.controller = Controller(self.mailbox, **kwargs)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[Message]:
        with self.mailbox.lock:
            return list(self.mailbox.messages)
