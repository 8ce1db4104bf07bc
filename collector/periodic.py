"""A background thread that runs one task every interval until it is stopped.

The rollup job and the restart watch of each VictoriaMetrics are such tasks. The thread waits
``interval_s`` before each run; :meth:`PeriodicThread.stop` wakes it at once, so stopping takes
no longer than the run in progress. A run that raises is logged and counted in ``failures``;
the next one comes at the next interval as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicThread:
    """Calls ``task`` every ``interval_s`` seconds in a daemon thread named ``name``.

    ``what`` names the task in the log line of a failed run ("<what> failed").
    """

    def __init__(
        self, name: str, interval_s: float, task: Callable[[], object], *, what: str
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval_s!r}")
        self.name = name
        self.interval_s = interval_s
        self.what = what
        self.failures = 0
        self._task = task
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: a long run can end early."""
        return self._stop.is_set()

    def start(self) -> None:
        """Start the thread; does nothing when it was started before."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop waking up and wait up to ``timeout`` seconds for the run in progress."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._task()
            except Exception:  # the thread must survive anything and try again later
                self.failures += 1
                log.exception("%s failed", self.what)
