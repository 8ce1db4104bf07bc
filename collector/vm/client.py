"""Blocking HTTP calls to VictoriaMetrics' write and health endpoints (run off the event loop)."""

from __future__ import annotations

import threading
from typing import Final, Protocol

import requests

from hostvitals.collector.vm.resend import RecentWrites

START_TIME_METRICS: Final = ("vm_app_start_timestamp", "process_start_time_seconds")


class VictoriaMetricsBackend(Protocol):
    """What the writer and the health probe need from VictoriaMetrics."""

    def post_import(self, body: bytes) -> tuple[int, str]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


class VictoriaMetricsClient:
    """Imports JSON lines and checks ``/health``.

    ``requests.Session`` is not documented as thread-safe, so every thread that writes,
    exports or watches for restarts (the writer's threads, rollup jobs, resend.py) gets a
    session of its own, kept for its next calls; the health probe (one check at a time) has
    its own too.
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        health_timeout_s: float = 1.0,
        recent: RecentWrites | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.recent = recent  # successful imports are kept here for a re-send (resend.py)
        self.timeout_s = timeout_s
        self.health_timeout_s = health_timeout_s
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._health_session = requests.Session()

    @property
    def _thread_session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy or ~/.netrc lookups on every call
            with self._sessions_lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    def post_import(self, body: bytes) -> tuple[int, str]:
        """POST to ``/api/v1/import``; returns status and body text. Raises on no answer."""
        response = self._thread_session.post(
            f"{self.base_url}/api/v1/import",
            data=body,
            headers={"Content-Type": "application/stream+json"},
            timeout=self.timeout_s,
        )
        if self.recent is not None and 200 <= response.status_code < 300:
            self.recent.add(body)
        return response.status_code, response.text

    def start_time(self) -> float:
        """When this VictoriaMetrics process started (Unix seconds), from its ``/metrics``.

        Raises when it cannot be asked or does not say.
        """
        response = self._thread_session.get(
            f"{self.base_url}/metrics", timeout=self.health_timeout_s
        )
        response.raise_for_status()
        for line in response.text.splitlines():
            name, _, value = line.partition(" ")
            if name in START_TIME_METRICS:
                return float(value)
        raise ValueError(f"{self.base_url}/metrics has no {' or '.join(START_TIME_METRICS)}")

    def export(self, match: str, start_ms: int, end_ms: int) -> bytes:
        """Raw samples of ``match`` with ``start_ms <= ts <= end_ms`` from ``/api/v1/export``.

        Raises ``requests.RequestException`` when there is no answer or it is not a 200.
        """
        response = self._thread_session.post(
            f"{self.base_url}/api/v1/export",
            data={
                "match[]": match,
                "start": f"{start_ms / 1000:.3f}",
                "end": f"{end_ms / 1000:.3f}",
            },
            timeout=self.timeout_s,
        )
        response.raise_for_status()
        return response.content

    def ping(self) -> None:
        """Raise unless ``/health`` answers 200 within the health timeout."""
        response = self._health_session.get(
            f"{self.base_url}/health", timeout=self.health_timeout_s
        )
        if response.status_code != 200:
            raise requests.HTTPError(f"/health answered {response.status_code}")

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._health_session.close()
