"""Real hostvitals processes for end-to-end tests."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import ManagedProcess, VictoriaMetrics, free_port, http_ok, wait_until

REPO = Path(__file__).resolve().parents[2]


def console_script(name: str) -> str:
    """The installed console script next to the running interpreter."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed; run `make venv`")
    return found


@dataclass
class Collector:
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


StartCollector = Callable[..., Collector]
StartAgent = Callable[..., ManagedProcess]


@pytest.fixture
def start_collector(tmp_path: Path, victoria_metrics: VictoriaMetrics) -> Iterator[StartCollector]:
    started: list[ManagedProcess] = []

    def start(
        port: int | None = None, env: dict[str, str] | None = None, vm_url: str | None = None
    ) -> Collector:
        port = port or free_port()
        proc = ManagedProcess(
            [console_script("hostvitals-collector"), "--port", str(port)],
            tmp_path / f"collector-{port}.log",
            env={
                "HOSTVITALS__VICTORIAMETRICS__URL": vm_url or victoria_metrics.url,
                **(env or {}),
            },
        )
        proc.start()
        started.append(proc)
        try:
            wait_until(http_ok(f"http://127.0.0.1:{port}/api/v1/health"), 30, "collector health")
        except TimeoutError as exc:
            raise RuntimeError(f"collector did not start:\n{proc.log_tail()}") from exc
        return Collector(proc, port)

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[StartAgent]:
    started: list[ManagedProcess] = []

    def start(
        collector_url: str,
        host: str,
        *,
        interval: int = 1,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        state = state_dir or tmp_path / f"agent-{host}"
        proc = ManagedProcess(
            [
                console_script("hostvitals-agent"),
                "--interval",
                str(interval),
                "--collector-url",
                collector_url,
                "--state-dir",
                str(state),
                "--host",
                host,
            ],
            tmp_path / f"agent-{host}.log",
            env=env,
        )
        proc.start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def vm_without_dedup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics that keeps every sample written, duplicates included, so a test can
    see a sample stored twice (the session store deduplicates at 1 ms and would hide it)."""
    vm = VictoriaMetrics(data_dir=tmp_path_factory.mktemp("vm-no-dedup") / "data")
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


@pytest.fixture
def host_name() -> str:
    """A host name no other test uses, so tests sharing VictoriaMetrics do not mix."""
    return f"e2e-{uuid.uuid4().hex[:10]}"
