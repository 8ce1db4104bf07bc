"""Reloading without a restart: a registry of what can be read again, run on SIGHUP and when a
watched file changes.

Each entry has a name (the ``what`` label of its metrics), a function that reads its source
again and swaps it in, and the files it is read from. :meth:`Reloads.check` compares each
file's (device, inode, size, mtime) with the last look, so a file replaced by a rename (a
Kubernetes Secret's volume swaps a symlink) or rewritten in place is seen, at the cost of a
few ``stat`` calls. A reload that raises keeps what was running: the entry is expected to
build the new state completely before it swaps it in, and the error is logged (never a
secret: the entries' messages name files, not their contents) and counted.

``create_app`` registers the access check's entries (``credentials``, ``auth.tokens_file``) on
``app.state.reloads``, and the server adds ``tls``; another store that must follow SIGHUP (a
user store, say) adds its own entry the same way.

Everything runs on the event loop's thread: SIGHUP through ``loop.add_signal_handler``, the
file check as a task, so an entry needs no lock against the requests it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger(__name__)

OUTCOMES: Final = ("ok", "failed")
Stamp = tuple[int, int, int, int] | None


def stamp(path: Path) -> Stamp:
    """What tells a changed file apart: (device, inode, size, mtime in ns); None if absent."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(slots=True)
class _Entry:
    name: str
    reload: Callable[[], None]
    files: tuple[Path, ...]
    stamps: dict[Path, Stamp] = field(default_factory=dict)

    def look(self) -> bool:
        """Take the files' stamps; True when one differs from the previous look."""
        now = {path: stamp(path) for path in self.files}
        changed = bool(self.stamps) and now != self.stamps
        self.stamps = now
        return changed


class Reloads:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        on_outcome: Callable[[str, str, str], object] | None = None,
    ) -> None:
        """``on_outcome(name, outcome, why)`` is told of every reload run (the audit log)."""
        self._entries: list[_Entry] = []
        self._on_outcome = on_outcome
        self.counter = Counter(
            "hostvitals_collector_reloads",
            "Reloads without a restart (certificates, token file, credentials), by what was "
            "reloaded and outcome; a failed one keeps the previous state serving.",
            ("what", "outcome"),
            registry=registry,
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self._entries)

    def add(self, name: str, reload: Callable[[], None], files: Iterable[Path] = ()) -> None:
        """Register ``reload``, run on SIGHUP and whenever one of ``files`` changes."""
        if name in self.names:
            raise ValueError(f"a reload named {name!r} is registered already")
        entry = _Entry(name, reload, tuple(files))
        entry.look()
        self._entries.append(entry)
        for outcome in OUTCOMES:
            self.counter.labels(name, outcome)

    def reload_all(self, why: str) -> bool:
        """Run every entry; True when all of them succeeded."""
        log.info("reloading %s (%s)", ", ".join(self.names) or "nothing", why)
        ok = True
        for entry in self._entries:
            entry.look()
            ok &= self._run(entry, why)
        return ok

    def check(self) -> None:
        """Run the entries one of whose files changed since the last look."""
        for entry in self._entries:
            if entry.look():
                self._run(entry, "a file changed")

    def _run(self, entry: _Entry, why: str) -> bool:
        try:
            entry.reload()
        except Exception as exc:
            self.counter.labels(entry.name, "failed").inc()
            log.error("reloading %s failed (%s), keeping the running one: %s", entry.name, why, exc)
            self._tell(entry.name, "failed", why)
            return False
        self.counter.labels(entry.name, "ok").inc()
        log.info("reloaded %s (%s)", entry.name, why)
        self._tell(entry.name, "ok", why)
        return True

    def _tell(self, name: str, outcome: str, why: str) -> None:
        if self._on_outcome is None:
            return
        try:
            self._on_outcome(name, outcome, why)
        except Exception:
            log.exception("recording the reload of %s failed", name)

    async def watch(self, every_s: float) -> None:
        """Check the files every ``every_s`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            self.check()

    def on_sighup(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Reload everything on SIGHUP; False where a handler cannot be installed (not the
        main thread, as under a test client)."""
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload_all, "SIGHUP")
        except (RuntimeError, ValueError, NotImplementedError):
            return False
        return True

    @staticmethod
    def off_sighup(loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGHUP)
