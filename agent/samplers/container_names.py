"""Container names and images from the runtime's API, where its socket is readable.

Docker and Podman answer the same ``GET /containers/json`` on their unix sockets. The list
is asked for when a container id is not yet known, at most every ``refresh_s``, with a short
timeout, so a hung runtime costs one second a minute at worst. Without a readable socket
(the agent runs unprivileged, or the runtime is containerd, which speaks only gRPC) a
container is shown by its short id.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostvitals.agent.samplers.cgroup_files import Workload
from hostvitals.agent.samplers.paths import HostPaths

log = logging.getLogger(__name__)

SOCKETS = {
    "docker": ("var/run/docker.sock", "run/docker.sock"),
    "podman": ("run/podman/podman.sock",),
}
REFRESH_S = 60.0
TIMEOUT_S = 1.0
MAX_ANSWER = 4 << 20
"""Most bytes of a container list read; a larger one is not used."""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def list_containers(path: Path, timeout: float = TIMEOUT_S) -> list[dict[str, Any]]:
    """The runtime's running containers, as its API lists them."""
    connection = UnixHTTPConnection(path, timeout)
    try:
        connection.request("GET", "/containers/json")
        response = connection.getresponse()
        body = response.read(MAX_ANSWER + 1)
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"{path}: GET /containers/json answered {response.status}")
    if len(body) > MAX_ANSWER:
        raise OSError(f"{path}: the container list is larger than {MAX_ANSWER} bytes")
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise OSError(f"{path}: the container list is not JSON: {exc}") from None
    if not isinstance(answer, list):
        raise OSError(f"{path}: the container list is not a list")
    return [item for item in answer if isinstance(item, dict)]


def names_from(containers: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Full id to (name, image); Docker's names start with a slash, which is dropped."""
    found: dict[str, tuple[str, str]] = {}
    for item in containers:
        ident, names = item.get("Id"), item.get("Names")
        if not isinstance(ident, str):
            continue
        name = names[0] if isinstance(names, list) and names and isinstance(names[0], str) else ""
        image = item.get("Image")
        found[ident] = (name.lstrip("/") or ident[:12], image if isinstance(image, str) else "")
    return found


class ContainerNames:
    def __init__(
        self,
        paths: HostPaths,
        clock: Callable[[], float] = time.monotonic,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._paths = paths
        self._clock = clock
        self._refresh_s = refresh_s
        self._known: dict[str, dict[str, tuple[str, str]]] = {}  # per runtime, as last listed
        self._asked: dict[str, float] = {}
        self._failed: set[str] = set()

    def name(self, workload: Workload) -> str:
        return self._lookup(workload)[0]

    def image(self, workload: Workload) -> str:
        return self._lookup(workload)[1]

    def _lookup(self, workload: Workload) -> tuple[str, str]:
        known = self._known.get(workload.runtime, {}).get(workload.ident)
        if known is None and workload.runtime in SOCKETS:
            self._refresh(workload.runtime)
            known = self._known.get(workload.runtime, {}).get(workload.ident)
        return known or (workload.short, "")

    def _refresh(self, runtime: str) -> None:
        now = self._clock()
        if now - self._asked.get(runtime, -self._refresh_s) < self._refresh_s:
            return
        self._asked[runtime] = now
        for relative in SOCKETS[runtime]:
            path = self._paths.root(relative)
            if not path.exists():
                continue
            try:
                self._known[runtime] = names_from(list_containers(path))
            except (OSError, ValueError, http.client.HTTPException) as exc:
                if runtime not in self._failed:
                    log.info("%s names unavailable, containers shown by id: %s", runtime, exc)
                    self._failed.add(runtime)
                continue
            self._failed.discard(runtime)
            return
