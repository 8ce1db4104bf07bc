"""A stand-in for one tenant of a VictoriaMetrics cluster, made of Debian's binaries.

Debian's VictoriaMetrics (1.79.5) ships no vminsert, vmselect or vmstorage, and its vmauth
cannot drop the first parts of a path (``drop_src_path_prefix_parts`` came in a later
release): it sends the whole request path to the backend. So the stand-in is three
processes, each refusing what is not its tenant's:

- a single-node VictoriaMetrics (the storage) started with
  ``-http.pathPrefix=/select/<id>/prometheus``: it answers
  ``/select/<id>/prometheus/api/v1/...`` as its own ``/api/v1/...`` and refuses (400) any
  path outside the prefix;
- a vmagent started with ``-http.pathPrefix=/insert/<id>/prometheus``: it takes
  ``/insert/<id>/prometheus/api/v1/import`` and forwards the rows to the storage (remote
  write, within ``-remoteWrite.flushInterval``);
- a vmauth in front of both, the address the collector is given: ``url_map`` routes
  ``/insert/<id>/prometheus/.+`` to the vmagent and ``/select/<id>/prometheus/.+`` to the
  storage, and answers 400 for any other path (another tenant, a single-node path). vmauth
  1.79 has no unauthorized user, so it also wants a user and password (in the URL).

``/health`` and ``/metrics`` at the vmauth's address are vmauth's own, as they are when a
vmauth stands in front of a real cluster.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from tests.support.processes import (
    ManagedProcess,
    free_port,
    victoria_metrics_binary,
    wait_until,
)

USER = "hostvitals"
START_TIMEOUT_S = 30.0
FLUSH_INTERVAL_S = 0.2
"""vmagent's ``-remoteWrite.flushInterval``: rows reach the storage within about this."""


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed; `make deps` installs Debian's package")
    return path


def _answers(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return requests.get(url, auth=auth, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class ClusterStandIn:
    """One tenant's cluster paths in front of one single-node VictoriaMetrics."""

    root: Path
    tenant: str
    extra_args: tuple[str, ...] = ()  # of the storage, e.g. -dedup.minScrapeInterval=60s
    password: str = field(default_factory=lambda: secrets.token_hex(12))
    storage_port: int = field(default_factory=free_port)
    agent_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The address the collector is given (insert_url and select_url), with the user."""
        return f"http://{USER}:{self.password}@127.0.0.1:{self.port}"

    @property
    def plain_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return USER, self.password

    @property
    def storage(self) -> str:
        """The storage's single-node API (under its path prefix), for the test's own checks."""
        return f"http://127.0.0.1:{self.storage_port}/select/{self.tenant}/prometheus"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._run(
            "storage",
            [
                victoria_metrics_binary(),
                f"-storageDataPath={self.root / 'data'}",
                f"-httpListenAddr=127.0.0.1:{self.storage_port}",
                f"-http.pathPrefix=/select/{self.tenant}/prometheus",
                "-retentionPeriod=100y",
                "-search.latencyOffset=0s",
                "-search.cacheTimestampOffset=0s",
                "-loggerLevel=ERROR",
                *self.extra_args,
            ],
            f"{self.storage}/health",
        )
        self._run(
            "vmagent",
            [
                _binary("vmagent"),
                f"-httpListenAddr=127.0.0.1:{self.agent_port}",
                f"-http.pathPrefix=/insert/{self.tenant}/prometheus",
                f"-remoteWrite.url={self.storage}/api/v1/write",
                f"-remoteWrite.tmpDataPath={self.root / 'vmagent'}",
                f"-remoteWrite.flushInterval={FLUSH_INTERVAL_S}s",
                "-loggerLevel=ERROR",
            ],
            f"http://127.0.0.1:{self.agent_port}/insert/{self.tenant}/prometheus/health",
        )
        routes = {
            "users": [
                {
                    "username": USER,
                    "password": self.password,
                    "url_map": [
                        {
                            "src_paths": [f"/insert/{self.tenant}/prometheus/.+"],
                            "url_prefix": f"http://127.0.0.1:{self.agent_port}",
                        },
                        {
                            "src_paths": [f"/select/{self.tenant}/prometheus/.+"],
                            "url_prefix": f"http://127.0.0.1:{self.storage_port}",
                        },
                    ],
                }
            ]
        }
        config = self.root / "vmauth.yaml"
        config.write_text(yaml.safe_dump(routes))
        self._run(
            "vmauth",
            [
                _binary("vmauth"),
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-auth.config={config}",
                "-loggerLevel=ERROR",
            ],
            f"{self.plain_url}/health",
        )

    def _run(self, name: str, argv: list[str], health: str) -> None:
        process = ManagedProcess(argv, self.root / f"{name}.log")
        process.start()
        self.processes.append(process)
        try:
            wait_until(lambda: _answers(health), START_TIMEOUT_S, f"{name} {health}")
        except TimeoutError as exc:
            raise RuntimeError(f"{name} did not start:\n{process.log_tail()}") from exc

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def flush(self) -> None:
        """Make the rows the storage has searchable now."""
        requests.get(f"{self.storage}/internal/force_flush", timeout=10).raise_for_status()

    def export(self, match: str, start_ms: int, end_ms: int) -> bytes:
        """Raw samples straight from the storage (not through vmauth)."""
        self.flush()
        form = {"match[]": match, "start": str(start_ms / 1000), "end": str(end_ms / 1000)}
        response = requests.post(f"{self.storage}/api/v1/export", data=form, timeout=10)
        response.raise_for_status()
        return response.content
