"""The audit log: every state-changing action, append-only and hash-chained.

Call :meth:`AuditLog.record` once per action, after it succeeded or was refused::

    audit.record(
        Action.LOGIN_FAILURE,
        principal=Actor.claimed("alice"),  # who asked: a Principal or an Actor
        target="alice",
        result=Result.DENIED,
        source="192.0.2.7",  # the client's address
        request_id="5f0c...",  # the request's X-Request-Id
        detail={"reason": "bad password"},  # small, never a secret
    )

A request handler has all of these in its ASGI scope: :meth:`AuditLog.record_request` takes
them from there (the principal left by the access check, the client's address and the
request id left by :class:`~hostvitals.collector.access.requestid.RequestId`). The login
route calls :meth:`AuditLog.login_succeeded` and :meth:`AuditLog.login_failed` (the app
keeps the log in ``app.state.audit``).

Records go to segment files in the audit directory (:mod:`.auditchain` has their format and
the chain check, :mod:`.auditrecord` the actions and what a record holds). Several
processes may write (the collector and the ``tokens``/``agents`` commands): each append
holds an exclusive lock on ``audit.lock`` and reads the newest record's hash from the file
first. Each record (and a new segment's name) is fsynced when ``fsync`` is set: actions
come at human rate, and an audit record that a crash can take back is worth little.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import orjson
from cachetools import TTLCache

from hostvitals.collector.access import auditchain
from hostvitals.collector.access.auditchain import Anchor, ChainStatus
from hostvitals.collector.access.auditrecord import (
    Action,
    Actor,
    Result,
    bounded_detail,
    clip,
)
from hostvitals.collector.access.roles import SCOPE_KEY, Principal
from hostvitals.collector.config.settings import Settings
from hostvitals.collector.tracing import current_trace_id

__all__ = ["REQUEST_ID_KEY", "Action", "Actor", "AuditLog", "Result", "audit_dir", "open_audit"]

log = logging.getLogger(__name__)

REQUEST_ID_KEY: Final = "hostvitals.request_id"
"""The key of the ASGI scope under which the request id is kept."""


class AuditLog:
    """Appends records to ``directory`` (a private temporary one when None: tests and
    throwaway runs, lost with the process) and answers reads and chain checks."""

    def __init__(
        self,
        directory: Path | None,
        *,
        segment_max_bytes: int = 4 * 1024 * 1024,
        segment_max_age_s: float = 7 * 86_400.0,
        max_segments: int = 16,
        retention_s: float = 90 * 86_400.0,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
        on_record: Callable[[str, str], None] | None = None,
    ) -> None:
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="hostvitals-audit-"))
            self._cleanup: weakref.finalize[Any, Any] | None = weakref.finalize(
                self, shutil.rmtree, directory, True
            )
        else:
            self._cleanup = None
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory = directory
        self.segment_max_bytes = segment_max_bytes
        self.segment_max_age_s = segment_max_age_s
        self.max_segments = max(1, max_segments)
        self.retention_s = retention_s
        self.fsync = fsync
        self._clock = clock
        self._on_record = on_record
        self._thread_lock = threading.Lock()
        self._verified: tuple[Any, ChainStatus] | None = None
        self._recent: TTLCache[tuple[str, ...], bool] = TTLCache(10_000, 60.0)
        with self._locked():
            newest = auditchain.segments(directory)
            if newest:
                auditchain.drop_torn_tail(newest[-1][1])

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()

    # -- writing -------------------------------------------------------------------------

    def record(
        self,
        action: str,
        *,
        principal: Principal | Actor,
        target: str,
        result: str,
        source: str | None,
        request_id: str | None,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one record and return it (with its seq and hash)."""
        actor = principal if isinstance(principal, Actor) else Actor.of(principal)
        body: dict[str, Any] = {
            "action": clip(str(action)),
            "subject": clip(actor.subject),
            "role": clip(actor.role),
            "credential_id": clip(actor.credential_id),
            "target": clip(target),
            "result": clip(str(result)),
            "source": clip(source),
            "request_id": clip(request_id),
            "detail": bounded_detail(detail),
        }
        if (trace_id := current_trace_id()) is not None:  # only while tracing is on
            body["trace_id"] = trace_id
        try:
            with self._locked():
                record = self._append(body)
                self._retain()
        except OSError as exc:
            # The action is done already: refusing to answer would not undo it. Say so loudly.
            log.error("audit log %s: cannot write a %s record: %s", self.directory, action, exc)
            if self._on_record is not None:
                self._on_record(body["action"], "write_failed")
            return body
        if self._on_record is not None:
            self._on_record(record["action"], record["result"])
        return record

    def record_request(
        self,
        scope: Mapping[str, Any],
        action: str,
        *,
        target: str,
        result: str,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """:meth:`record` with who, where from and the request id taken from an ASGI scope."""
        principal = scope.get(SCOPE_KEY)
        return self.record(
            action,
            principal=principal if principal is not None else Actor("unauthenticated"),
            target=target,
            result=result,
            source=_client(scope),
            request_id=scope.get(REQUEST_ID_KEY),
            detail=detail,
        )

    def first_in_a_while(self, *key: str) -> bool:
        """True once a minute per ``key``: for refusals a misconfigured agent repeats with
        every frame, which should leave one record a minute, not thousands."""
        with self._thread_lock:
            if key in self._recent:
                return False
            self._recent[key] = True
            return True

    def login_succeeded(self, scope: Mapping[str, Any], principal: Principal | Actor) -> None:
        """For the login route: ``principal`` (the user now signed in) logged in."""
        self.record(
            Action.LOGIN_SUCCESS,
            principal=principal,
            target=principal.name if isinstance(principal, Principal) else principal.subject,
            result=Result.OK,
            source=_client(scope),
            request_id=scope.get(REQUEST_ID_KEY),
        )

    def login_failed(self, scope: Mapping[str, Any], claimed: str, reason: str) -> None:
        """For the login route: someone giving the user name ``claimed`` was refused
        (``reason``: for example ``bad_password``, ``unknown_user``, ``rate_limited``)."""
        self.record(
            Action.LOGIN_FAILURE,
            principal=Actor.claimed(claimed),
            target=claimed,
            result=Result.DENIED,
            source=_client(scope),
            request_id=scope.get(REQUEST_ID_KEY),
            detail={"reason": reason},
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, open(self.directory / auditchain.LOCK_FILE, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _head(self) -> tuple[int, str, Path | None, float | None]:
        """The newest record's seq and hash, its segment and that segment's first time."""
        found = auditchain.segments(self.directory)
        anchor = auditchain.read_anchor(self.directory)
        for _first, path in reversed(found):
            line = auditchain.last_line(path)
            if line is None:
                continue
            last = orjson.loads(line)
            with open(path, "rb") as f:
                first = orjson.loads(f.readline())
            return int(last["seq"]), str(last["hash"]), path, float(first["ts"])
        return anchor.seq, anchor.hash, None, None

    def _append(self, body: dict[str, Any]) -> dict[str, Any]:
        seq, prev, path, started = self._head()
        now = self._clock()
        record = {
            "seq": seq + 1,
            "ts": now,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            **body,
            "prev": prev,
        }
        record["hash"] = auditchain.chain_hash(prev, record)
        line = orjson.dumps(record) + b"\n"
        if path is None or started is None or self._full(path, started, now, len(line)):
            path = self.directory / auditchain.segment_name(seq + 1)
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if new and self.fsync:  # the new segment's name must survive a crash too
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return record

    def _full(self, path: Path, started: float, now: float, adding: int) -> bool:
        size = path.stat().st_size
        return size + adding > self.segment_max_bytes or now - started > self.segment_max_age_s

    def _retain(self) -> None:
        """Drop the oldest segments past ``max_segments`` or older than ``retention_s`` (never
        the newest), move the anchor and say so in the chain."""
        found = auditchain.segments(self.directory)
        now = self._clock()
        drop: list[Path] = []
        for index, (_first, path) in enumerate(found[:-1]):
            too_many = len(found) - index > self.max_segments
            if too_many or now - path.stat().st_mtime > self.retention_s:
                drop.append(path)
            else:
                break
        if not drop:
            return
        line = auditchain.last_line(drop[-1])
        if line is None:
            return
        last = orjson.loads(line)
        anchor = Anchor(int(last["seq"]), str(last["hash"]))
        auditchain.write_anchor(self.directory, anchor)
        for path in drop:
            path.unlink()
        self._append(
            {
                "action": str(Action.RETENTION),
                "subject": "collector",
                "role": "",
                "credential_id": "",
                "target": f"{len(drop)} segment(s)",
                "result": str(Result.OK),
                "source": "",
                "request_id": "",
                "detail": {"anchor_seq": anchor.seq, "anchor": anchor.hash},
            }
        )

    # -- reading -------------------------------------------------------------------------

    def read(
        self,
        *,
        since: float | None = None,
        action: str | None = None,
        subject: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Matching records, newest first, at most ``limit``."""
        out: list[dict[str, Any]] = []
        for _path, _number, line in auditchain.read_records(self.directory):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if since is not None and float(record.get("ts", 0)) < since:
                continue
            if action is not None and record.get("action") != action:
                continue
            if subject is not None and record.get("subject") != subject:
                continue
            out.append(record)
        out.reverse()
        return out[:limit]

    def verify(self) -> ChainStatus:
        """Check the whole chain; the answer is reused until a segment or the anchor changes."""
        key = self._fingerprint()
        cached = self._verified
        if cached is not None and cached[0] == key:
            return cached[1]
        status = auditchain.verify(self.directory)
        self._verified = (key, status)
        return status

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if entry.name.endswith((".jsonl", ".json")):
                st = entry.stat()
                out.append((entry.name, st.st_size, st.st_mtime_ns))
        return tuple(out)


def _client(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def audit_dir(settings: Settings) -> Path | None:
    """``audit.dir``, else ``audit/`` in ``state.dir``, else None (a temporary directory)."""
    if settings.audit.dir is not None:
        return settings.audit.dir
    return None if settings.state.dir is None else settings.state.dir / "audit"


def open_audit(
    settings: Settings, *, on_record: Callable[[str, str], None] | None = None
) -> AuditLog:
    a = settings.audit
    return AuditLog(
        audit_dir(settings),
        segment_max_bytes=a.segment_max_bytes,
        segment_max_age_s=a.segment_max_age_s,
        max_segments=a.max_segments,
        retention_s=a.retention_days * 86_400.0,
        fsync=a.fsync,
        on_record=on_record,
    )
