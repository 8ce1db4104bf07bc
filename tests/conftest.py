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


# name, resolution (s), retention: the rollup tiers of the shipped configuration.
ROLLUP_TIERS = (("1m", 60, "7d"), ("5m", 300, "30d"), ("1h", 3600, "365d"))


@pytest.fixture(scope="session")
def vm_tiers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, VictoriaMetrics]]:
    """One real VictoriaMetrics per rollup tier, started as deployed (own retention, and
    -dedup.minScrapeInterval set to the tier's resolution). The raw tier is ``victoria_metrics``.
    """
    root: Path = tmp_path_factory.mktemp("vm-tiers")
    tiers = {
        name: VictoriaMetrics(
            data_dir=root / name / "data",
            retention=retention,
            extra_args=(f"-dedup.minScrapeInterval={resolution}s",),
        )
        for name, resolution, retention in ROLLUP_TIERS
    }
    try:
        for vm in tiers.values():
            vm.start()
        yield tiers
    finally:
        for vm in tiers.values():
            vm.stop()
