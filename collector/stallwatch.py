"""A debugging aid: event-loop stalls and garbage-collector pauses, with what ran meanwhile.

Every request the collector answers waits while anything else holds the event loop, or the
interpreter lock that the loop needs: a long callback on the loop, CPU-heavy work in a worker
thread, a full pass of the garbage collector. :class:`StallWatch` (``server.stall_watch_ms``,
off by default) makes those waits visible:

- a task on the loop wakes every ``tick_s`` and records how late it woke (the loop's lag); a
  lag of at least ``threshold_s`` is a stall. With it goes the CPU time the loop's thread
  used meanwhile: a stall the loop spent computing uses about as much CPU time as it lasted,
  one it spent waiting (for the interpreter lock, or for a core on a busy machine) little.
  Linux also says how long the thread was runnable with no core free (the second field of
  ``/proc/thread-self/schedstat``): what is neither is waiting for the interpreter lock;
- a watchdog thread looks at the loop thread while a tick is overdue and keeps the loop's
  stack at that moment (what the loop ran), and the innermost frames of the other threads
  that were not waiting (who may have held the interpreter lock);
- ``gc.callbacks`` time every collection, by generation and by the thread that ran it, in
  wall time and in that thread's CPU time (which a busy machine does not inflate).

:meth:`StallWatch.report` is what ``GET /api/v1/debug/stalls`` answers. The watch costs a
wake-up of the loop every ``tick_s`` and, while a tick is overdue, a thread taking the
interpreter lock every half threshold to sample the stacks: it lengthens the tail it reports.
The cached 24 h range at 100 clients (``bench/api_latency.py``) measured p99 37-41 ms with it
off and 463-1,080 ms with it at 20 ms. It is meant for finding a stall, not for running all
the time, and the benchmarks run it only when asked (``--stall-watch``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Final

from hostvitals.collector.runqueue import runqueue_clock

DEFAULT_TICK_S: Final = 0.005
LAG_BOUNDS_MS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
STACK_DEPTH: Final = 8
# Innermost functions of a thread that is waiting, not running Python code.
_WAITING: Final = frozenset(
    {
        "wait",
        "_wait_for_tstate_lock",
        "get",
        "select",
        "poll",
        "accept",
        "recv",
        "recv_into",
        "readinto",
        "read",
        "sleep",
        "_worker",
        "_recv_into",
    }
)


def describe(frame: FrameType | None, depth: int = STACK_DEPTH) -> list[str]:
    """The innermost ``depth`` frames of a stack, innermost first, as ``module.function:line``."""
    out: list[str] = []
    while frame is not None and len(out) < depth:
        code = frame.f_code
        module = frame.f_globals.get("__name__", "?")
        out.append(f"{module}.{code.co_qualname}:{frame.f_lineno}")
        frame = frame.f_back
    return out


@dataclass(slots=True)
class Stall:
    """One late wake-up of the loop: when (Unix seconds), how late, and what ran meanwhile."""

    at: float
    lag_ms: float
    loop_cpu_ms: float = 0.0  # CPU time of the loop's thread during the stall
    loop_runqueue_ms: float = 0.0  # time it was runnable with no core free
    gc_ms: float = 0.0  # garbage collection that ran during the stall, in any thread
    loop_stacks: list[list[str]] = field(default_factory=list)
    busy_threads: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "lag_ms": round(self.lag_ms, 1),
            "loop_cpu_ms": round(self.loop_cpu_ms, 1),
            "loop_runqueue_ms": round(self.loop_runqueue_ms, 1),
            "gc_ms": round(self.gc_ms, 1),
            "loop_stacks": self.loop_stacks,
            "busy_threads": self.busy_threads,
        }


@dataclass(slots=True)
class GcPause:
    at: float
    generation: int
    ms: float
    cpu_ms: float
    collected: int
    thread: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 3),
            "generation": self.generation,
            "ms": round(self.ms, 2),
            "cpu_ms": round(self.cpu_ms, 2),
            "collected": self.collected,
            "thread": self.thread,
        }


class StallWatch:
    """Records loop lags of at least ``threshold_s`` and every GC pause of at least
    ``gc_threshold_s`` (the ``keep`` newest of each), and counts all of them."""

    def __init__(
        self,
        threshold_s: float,
        *,
        tick_s: float = DEFAULT_TICK_S,
        gc_threshold_s: float = 0.001,
        keep: int = 2000,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
        runqueue_clock: Callable[[], float] | None = None,
    ) -> None:
        if not threshold_s > 0:
            raise ValueError(f"threshold must be positive, not {threshold_s!r}")
        self.threshold_s = threshold_s
        self.tick_s = tick_s
        self.gc_threshold_s = gc_threshold_s
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._runqueue_clock = runqueue_clock
        self._lock = threading.Lock()
        self._stalls: deque[Stall] = deque(maxlen=keep)
        self._gc_long: deque[GcPause] = deque(maxlen=keep)
        self._lag_counts = [0] * (len(LAG_BOUNDS_MS) + 1)
        self._ticks = 0
        self._gc_counts: Counter[int] = Counter()
        self._gc_total_s: dict[int, float] = {}
        self._gc_cpu_s: dict[int, float] = {}
        self._gc_max_s: dict[int, float] = {}
        self._gc_started: tuple[float, float] | None = None  # collections never overlap
        # (end, generation, seconds, CPU seconds, collected, thread) of each collection
        self._gc_buf: list[tuple[float, int, float, float, int, str]] = []
        self._gc_recent: deque[tuple[float, float]] = deque(maxlen=256)  # (end, seconds)
        self._beat = clock()
        self._pending: Stall | None = None  # the stall the watchdog is sampling
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = time.time()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching the running loop (call from a coroutine on it)."""
        if self._task is not None:
            return
        self._loop_thread = threading.get_ident()
        self._beat = self._clock()
        self._task = asyncio.get_running_loop().create_task(self._ticker())
        gc.callbacks.append(self._on_gc)
        self._stop.clear()
        self._thread = threading.Thread(target=self._watchdog, name="stall-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 1.0)

    # -- the loop's side -------------------------------------------------------------------

    async def _ticker(self) -> None:
        tick = self.tick_s
        # Opened on the loop's thread: /proc/thread-self is the thread that opens it.
        own = None if self._runqueue_clock is not None else runqueue_clock()
        waited = self._runqueue_clock or own
        assert waited is not None
        cpu_before = self._cpu_clock()
        wait_before = waited()
        try:
            while True:
                before = self._clock()
                self._beat = before
                await asyncio.sleep(tick)
                # Each reading ends one tick and starts the next: one of each clock a tick.
                lag = self._clock() - before - tick
                cpu, wait = self._cpu_clock(), waited()
                self.record_lag(lag, cpu - cpu_before, wait - wait_before)
                cpu_before, wait_before = cpu, wait
        finally:
            if own is not None:
                own.close()

    def record_lag(
        self, lag_s: float, loop_cpu_s: float = 0.0, loop_runqueue_s: float = 0.0
    ) -> None:
        """Count one wake-up ``lag_s`` late, the loop's thread having used ``loop_cpu_s`` of
        CPU time since the previous one and waited ``loop_runqueue_s`` for a core; keep it as
        a stall when over the threshold."""
        lag_ms = max(0.0, lag_s * 1000.0)
        with self._lock:
            self._ticks += 1
            self._lag_counts[bisect.bisect_left(LAG_BOUNDS_MS, lag_ms)] += 1
            stall, self._pending = self._pending, None
            self._drain_gc()
            if lag_s < self.threshold_s:
                return
            if stall is None:
                stall = Stall(time.time() - lag_s, lag_ms)
            stall.lag_ms = lag_ms
            stall.loop_cpu_ms = loop_cpu_s * 1000.0
            stall.loop_runqueue_ms = loop_runqueue_s * 1000.0
            end = self._clock()
            stall.gc_ms = 1000.0 * sum(
                min(s, lag_s) for done, s in self._gc_recent if done >= end - lag_s - 0.001
            )
            self._stalls.append(stall)

    # -- the watchdog thread ---------------------------------------------------------------

    def _watchdog(self) -> None:
        period = max(self.threshold_s / 2, 0.001)
        while not self._stop.wait(period):
            overdue = self._clock() - self._beat - self.tick_s
            if overdue >= self.threshold_s / 2:
                self.sample(overdue)

    def sample(self, overdue_s: float) -> None:
        """Keep what the loop thread and the other busy threads run right now."""
        frames = sys._current_frames()
        # This thread's own entry is this very frame: kept in a local, it would make a
        # reference cycle holding every thread's stack (and whatever those frames' locals
        # hold, such as decoded frames) until the next full enough garbage collection.
        del frames[threading.get_ident()]
        names = {t.ident: t.name for t in threading.enumerate()}
        loop_stack = describe(frames.get(self._loop_thread or -1))
        busy = []
        for ident, frame in frames.items():
            if ident == self._loop_thread:
                continue
            if frame.f_code.co_name in _WAITING:
                continue
            busy.append(f"{names.get(ident, ident)}: {' < '.join(describe(frame, 3))}")
        with self._lock:
            if self._pending is None:
                self._pending = Stall(time.time() - overdue_s, overdue_s * 1000.0)
            if len(self._pending.loop_stacks) < 8:
                self._pending.loop_stacks.append(loop_stack)
                for line in busy:
                    if line not in self._pending.busy_threads:
                        self._pending.busy_threads.append(line)

    # -- garbage collection ----------------------------------------------------------------

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # Takes no lock: a collection can start in any thread, also in one holding the lock.
        now, cpu = self._clock(), self._cpu_clock()
        if phase == "start":
            self._gc_started = (now, cpu)
            return
        started, self._gc_started = self._gc_started, None
        if started is not None:
            self._gc_buf.append(
                (
                    now,
                    info.get("generation", -1),
                    now - started[0],
                    cpu - started[1],
                    info.get("collected", 0),
                    threading.current_thread().name,
                )
            )

    def record_gc(
        self, generation: int, seconds: float, collected: int, thread: str, cpu_s: float = 0.0
    ) -> None:
        """Count one collection that just ended (what the ``gc`` callback records)."""
        self._gc_buf.append((self._clock(), generation, seconds, cpu_s, collected, thread))

    def _drain_gc(self) -> None:
        """Fold the collections recorded since the last call in (with the lock held)."""
        buf, self._gc_buf = self._gc_buf, []
        for end, generation, seconds, cpu_s, collected, thread in buf:
            self._gc_counts[generation] += 1
            self._gc_total_s[generation] = self._gc_total_s.get(generation, 0.0) + seconds
            self._gc_cpu_s[generation] = self._gc_cpu_s.get(generation, 0.0) + cpu_s
            self._gc_max_s[generation] = max(self._gc_max_s.get(generation, 0.0), seconds)
            self._gc_recent.append((end, seconds))
            if seconds >= self.gc_threshold_s:
                at = time.time() - (self._clock() - end) - seconds
                self._gc_long.append(
                    GcPause(at, generation, seconds * 1000, cpu_s * 1000, collected, thread)
                )

    # -- the report ------------------------------------------------------------------------

    def report(self, since: float = 0.0) -> dict[str, Any]:
        """Counts since the start, and the kept stalls and long GC pauses at or after
        ``since`` (Unix seconds)."""
        with self._lock:
            self._drain_gc()
            stalls = [s.as_dict() for s in self._stalls if s.at >= since]
            pauses = [p.as_dict() for p in self._gc_long if p.at >= since]
            lag_counts = list(self._lag_counts)
            gens = sorted(self._gc_counts)
            gc_summary = {
                str(g): {
                    "collections": self._gc_counts[g],
                    "total_ms": round(self._gc_total_s[g] * 1000, 1),
                    "cpu_ms": round(self._gc_cpu_s[g] * 1000, 1),
                    "max_ms": round(self._gc_max_s.get(g, 0.0) * 1000, 2),
                }
                for g in gens
            }
            ticks = self._ticks
        bounds = [f"<{b}" for b in LAG_BOUNDS_MS] + [f">={LAG_BOUNDS_MS[-1]}"]
        return {
            "started_at": round(self.started_at, 3),
            "threshold_ms": self.threshold_s * 1000,
            "tick_ms": self.tick_s * 1000,
            "ticks": ticks,
            "lag_ms_histogram": dict(zip(bounds, lag_counts, strict=True)),
            "stalls": stalls,
            "gc": gc_summary,
            "gc_pauses": pauses,
        }
