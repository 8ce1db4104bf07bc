"""Fixtures shared by every test layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import VictoriaMetrics


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics for the whole test session, on a free loopback port.

    Tests share it; each test writes under its own host names so they do not see each other.
    """
    root: Path = tmp_path_factory.mktemp("victoria-metrics")
    vm = VictoriaMetrics(data_dir=root / "data", extra_args=("-dedup.minScrapeInterval=1ms",))
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
