"""Runs the enabled samplers once per tick, off the event loop, and keeps their vital signs.

Each sampler runs as its own job in one small thread pool, or, when samplers share a
``group``, one after the other in a single job (cheap samplers cost less that way than in
threads competing for the interpreter). Every sampler is timed centrally and isolated:
a sampler that raises is counted and logged (at most once a minute per sampler) and the others
carry on. A sampler that has not finished when the tick's wait ends is left running and its
result is discarded; while it still runs it is not started again. Either way the tick goes
on with what is ready and the miss is counted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from hostvitals.agent.samplers.base import Row, Sampler, labels
from hostvitals.agent.throttle import Throttle

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 4


@dataclass(frozen=True, slots=True)
class Scheduled:
    """A sampler and how often it runs: every tick, or every ``every_s`` seconds."""

    sampler: Sampler
    every_s: float | None = None
    group: str | None = None
    """Samplers of one group run one after the other in one job, in the order given."""


@dataclass(slots=True)
class _Slot:
    sampler: Sampler
    every_ms: int
    group: str | None = None
    period: int | None = None
    future: asyncio.Future[None] | None = None
    duration_s: float | None = None
    errors: int = 0
    missed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, tick_ms: int) -> bool:
        """Whether the sampler should run at this tick; on wall-clock multiples of its period."""
        if self.every_ms <= 0:
            return True
        period = tick_ms // self.every_ms
        return self.period is None or period != self.period


class Registry:
    def __init__(
        self,
        samplers: Iterable[Sampler | Scheduled],
        *,
        executor: Executor | None = None,
        timer: Callable[[], float] = time.perf_counter,
        throttle: Throttle | None = None,
    ) -> None:
        self._slots: list[_Slot] = []
        for entry in samplers:
            scheduled = entry if isinstance(entry, Scheduled) else Scheduled(entry)
            every_ms = round(scheduled.every_s * 1000) if scheduled.every_s else 0
            self._slots.append(_Slot(scheduled.sampler, every_ms, scheduled.group))
        names = [slot.sampler.name for slot in self._slots]
        if len(set(names)) != len(names):
            raise ValueError(f"sampler names must be unique, got {names}")
        self._executor = executor or ThreadPoolExecutor(
            max_workers=DEFAULT_WORKERS, thread_name_prefix="hostvitals-sampler"
        )
        self._timer = timer
        self._throttle = throttle or Throttle()

    @property
    def names(self) -> list[str]:
        return [slot.sampler.name for slot in self._slots]

    async def collect(self, tick_ms: int, timeout_s: float, *, force: bool = False) -> list[Row]:
        """Run the samplers due at this tick (all of them with ``force``); their rows.

        Waits at most ``timeout_s`` for them.
        """
        loop = asyncio.get_running_loop()
        jobs: dict[object, list[_Slot]] = {}
        for slot in self._slots:
            if not (force or slot.due(tick_ms)):
                continue
            if slot.future is not None and not slot.future.done():
                self._missed(slot, "is still running from an earlier tick; not started again")
                continue
            if slot.every_ms > 0:
                slot.period = tick_ms // slot.every_ms
            jobs.setdefault(slot.group if slot.group is not None else id(slot), []).append(slot)
        if not jobs:
            return []
        started: list[tuple[list[_Slot], dict[int, list[Row]]]] = []
        futures: list[asyncio.Future[None]] = []
        for slots in jobs.values():
            results: dict[int, list[Row]] = {}
            future = loop.run_in_executor(self._executor, self._run_job, slots, results)
            for slot in slots:
                slot.future = future
            started.append((slots, results))
            futures.append(future)
        await asyncio.wait(futures, timeout=timeout_s)
        rows: list[Row] = []
        for slots, results in started:
            for slot in slots:
                got = results.get(id(slot))
                if got is not None:
                    rows.extend(got)
                else:
                    self._missed(slot, f"did not finish within {timeout_s:g} s; result discarded")
        return rows

    def _run_job(self, slots: list[_Slot], results: dict[int, list[Row]]) -> None:
        """Run samplers in order in a worker thread, publishing each one's rows as it ends."""
        for slot in slots:
            results[id(slot)] = self._run(slot)

    def _run(self, slot: _Slot) -> list[Row]:
        """Run one sampler in a worker thread; never raises."""
        start = self._timer()
        try:
            rows = slot.sampler.collect()
        except Exception as exc:
            with slot.lock:
                slot.errors += 1
            self._throttle.log(
                log,
                logging.ERROR,
                ("error", slot.sampler.name),
                "sampler %s failed: %s: %s",
                slot.sampler.name,
                type(exc).__name__,
                exc,
                exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,
            )
            rows = []
        duration = self._timer() - start
        with slot.lock:
            slot.duration_s = duration
        return rows

    def _missed(self, slot: _Slot, why: str) -> None:
        with slot.lock:
            slot.missed += 1
        self._throttle.log(
            log,
            logging.WARNING,
            ("missed", slot.sampler.name),
            "sampler %s %s",
            slot.sampler.name,
            why,
        )

    def missed(self) -> dict[str, int]:
        """Ticks each sampler contributed nothing to because it was too slow."""
        out: dict[str, int] = {}
        for slot in self._slots:
            with slot.lock:
                out[slot.sampler.name] = slot.missed
        return out

    def errors(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for slot in self._slots:
            with slot.lock:
                out[slot.sampler.name] = slot.errors
        return out

    def stats_rows(self) -> list[Row]:
        """Each sampler's last run time, errors and missed ticks, as agent metrics."""
        rows: list[Row] = []
        for slot in self._slots:
            with slot.lock:
                duration, errors, missed = slot.duration_s, slot.errors, slot.missed
            sampler = labels(sampler=slot.sampler.name)
            if duration is not None:
                rows.append(("hostvitals_agent_sampler_duration_seconds", sampler, duration))
            rows.append(("hostvitals_agent_sampler_errors_total", sampler, errors))
            rows.append(("hostvitals_agent_sampler_missed_total", sampler, missed))
        return rows

    def close(self) -> None:
        """Stop the worker threads; a sampler stuck in a call is left to finish on its own."""
        self._executor.shutdown(wait=False, cancel_futures=True)
