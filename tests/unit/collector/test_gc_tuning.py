"""The server process collects garbage less often than Python's defaults."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hostvitals.collector.__main__ import GC_THRESHOLD_OLDER, GC_THRESHOLD_YOUNG, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_tune_gc_raises_thresholds_and_freezes_startup_objects() -> None:
    tune_gc()
    assert gc.get_threshold() == (GC_THRESHOLD_YOUNG, GC_THRESHOLD_OLDER, GC_THRESHOLD_OLDER)
    assert gc.get_threshold()[0] > 700  # Python's default
    assert gc.get_freeze_count() > 0
