"""The capacity forecast of the fleet page: per host, the filesystem that fills up first at
the pace of the last 6 hours, when that is within a day.

The same test as the ``DiskFillingUp`` rule: ``predict_linear`` over 6 h says the available
bytes reach zero within 24 h, and the filesystem has at least an hour of history (``offset
1h``), so a fresh host's first writes predict nothing. The time left is the available bytes
over the rate at which they shrink (``deriv`` over the same 6 h).

One instant query covers every host. Its answer is kept for ``refresh_s`` and read by every
fleet answer and stream tick; a read of an older answer starts one refresh in the background
and is answered from what is kept, so no request waits for VictoriaMetrics and nobody looking
at the fleet means no queries at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, TypedDict

from hostvitals.collector.vm.errors import BackendError
from hostvitals.collector.vm.promql import quote
from hostvitals.collector.vm.reader import InstantSample
from hostvitals.shared.catalogue import HOST_LABEL

log = logging.getLogger(__name__)

WINDOW: Final = "6h"
HORIZON_S: Final = 86_400
HISTORY: Final = "1h"
DEFAULT_REFRESH_S: Final = 300.0


class Forecast(TypedDict):
    mountpoint: str
    device: str
    full_in_s: float


def forecast_query(ignored_fstypes: str) -> str:
    """Seconds until each filling filesystem is full, for those full within a day."""
    avail = f"node_filesystem_avail_bytes{{fstype!~{quote(ignored_fstypes)}}}"
    return (
        f"clamp_min({avail} / -deriv({avail}[{WINDOW}]), 0)"
        f" and (predict_linear({avail}[{WINDOW}], {HORIZON_S}) < 0)"
        f" and ({avail} offset {HISTORY})"
    )


def soonest(samples: list[InstantSample]) -> dict[str, Forecast]:
    """Per host, the filesystem that is full first."""
    out: dict[str, Forecast] = {}
    for sample in samples:
        host = sample.labels.get(HOST_LABEL)
        if not host or sample.value > HORIZON_S:
            continue
        seen = out.get(host)
        if seen is None or sample.value < seen["full_in_s"]:
            out[host] = Forecast(
                mountpoint=sample.labels.get("mountpoint", ""),
                device=sample.labels.get("device", ""),
                full_in_s=sample.value,
            )
    return out


Query = Callable[[str], list[InstantSample]]
Spawn = Callable[[Callable[[], None]], None]


def _thread(task: Callable[[], None]) -> None:
    threading.Thread(target=task, name="hostvitals-disk-forecast", daemon=True).start()


class DiskForecast:
    """The kept answer of :func:`forecast_query`, refreshed in the background when read."""

    def __init__(
        self,
        query: Query,
        ignored_fstypes: str,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
        spawn: Spawn = _thread,
    ) -> None:
        self._query = query
        self._expr = forecast_query(ignored_fstypes)
        self._refresh_s = refresh_s
        self._clock = clock
        self._spawn = spawn
        self._lock = threading.Lock()
        self._kept: Mapping[str, Forecast] = MappingProxyType({})
        self._due = float("-inf")
        self._running = False
        self.failures = 0

    def forecasts(self) -> Mapping[str, Forecast]:
        """Per host, its soonest full filesystem (hosts with none are absent)."""
        with self._lock:
            start = not self._running and self._clock() >= self._due
            if start:
                self._running = True
            kept = self._kept
        if start:
            self._spawn(self._refresh)
        return kept

    def _refresh(self) -> None:
        fresh: Mapping[str, Forecast] | None = None
        try:
            fresh = MappingProxyType(soonest(self._query(self._expr)))
        except BackendError as exc:
            self.failures += 1
            log.warning("disk forecast: VictoriaMetrics did not answer: %s", exc)
        except Exception:  # a background thread: keep the last answer, try again later
            self.failures += 1
            log.exception("disk forecast failed")
        finally:
            with self._lock:
                if fresh is not None:
                    self._kept = fresh
                self._due = self._clock() + self._refresh_s
                self._running = False
