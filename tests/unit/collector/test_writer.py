"""Group commit: batching, failure fan-out, the bounded queue and draining on close."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future

import pytest

from hostvitals.collector.selfmetrics import SelfMetrics
from hostvitals.collector.vm.errors import (
    BackendRejected,
    BackendUnavailable,
    QueueFull,
    WriterClosed,
)
from hostvitals.collector.vm.writer import VictoriaMetricsWriter

WAIT = 30.0


class Target:
    """Records bodies; the first POST can be held until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.posts: list[bytes] = []
        self.status = 204
        self.error: Exception | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def post_import(self, body: bytes) -> tuple[int, str]:
        self.entered.set()
        assert self.release.wait(WAIT)
        self.posts.append(body)
        if self.error is not None:
            raise self.error
        if b"bad" in body:
            return 400, "cannot parse line"
        return self.status, "" if self.status < 300 else "store says no"


@pytest.fixture
def metrics() -> SelfMetrics:
    return SelfMetrics()


def make(
    target: Target,
    metrics: SelfMetrics,
    *,
    batch_max: int = 1 << 20,
    delay: float = 0.0,
    queue_max: int = 1 << 20,
) -> VictoriaMetricsWriter:
    return VictoriaMetricsWriter(
        target, metrics, batch_max_bytes=batch_max, max_delay_s=delay, queue_max_bytes=queue_max
    )


@pytest.fixture
def writers() -> Iterator[list[VictoriaMetricsWriter]]:
    made: list[VictoriaMetricsWriter] = []
    yield made
    for writer in made:
        writer.close(WAIT)


def writes(metrics: SelfMetrics, result: str) -> float:
    value = metrics.registry.get_sample_value(
        "hostvitals_collector_vm_writes_total", {"result": result}
    )
    assert value is not None
    return value


def results(futures: list[Future[None]]) -> list[BaseException | None]:
    return [f.exception(WAIT) for f in futures]


def test_items_queued_during_a_write_share_the_next_one(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics)
    writers.append(writer)
    first = writer.submit(b"a\n")
    assert target.entered.wait(WAIT)
    rest = [writer.submit(b"b\n"), writer.submit(b"c\n"), writer.submit(b"d\n")]
    target.release.set()
    assert results([first, *rest]) == [None] * 4
    assert target.posts == [b"a\n", b"b\nc\nd\n"]
    assert writes(metrics, "ok") == 2
    assert metrics.registry.get_sample_value("hostvitals_collector_vm_write_frames_total") == 4
    assert writer.status().last_write_ok is True


def test_batch_is_sent_as_soon_as_it_is_full(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target()
    # A long delay: only reaching batch_max_bytes (or closing) sends the batch.
    writer = make(target, metrics, batch_max=6, delay=WAIT)
    writers.append(writer)
    futures = [writer.submit(b"x\n"), writer.submit(b"y\n"), writer.submit(b"z\n")]
    assert results(futures) == [None] * 3
    assert target.posts == [b"x\ny\nz\n"]


def test_batches_never_exceed_the_byte_limit(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics, batch_max=25)
    writers.append(writer)
    first = writer.submit(b"0" * 9 + b"\n")
    assert target.entered.wait(WAIT)
    rest = [writer.submit(bytes([65 + i]) * 9 + b"\n") for i in range(5)]
    target.release.set()
    assert results([first, *rest]) == [None] * 6
    assert [len(p) for p in target.posts] == [10, 20, 20, 10]


def test_a_single_item_larger_than_a_batch_is_still_written(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target()
    writer = make(target, metrics, batch_max=4, queue_max=4)
    writers.append(writer)
    assert writer.submit(b"0123456789\n").result(WAIT) is None
    assert target.posts == [b"0123456789\n"]


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (ConnectionError("refused"), 204, "unreachable: refused"),
        (None, 503, "answered 503: store says no"),
        (None, 429, "answered 429"),
    ],
)
def test_store_trouble_fails_every_waiting_write_as_unavailable(
    metrics: SelfMetrics,
    writers: list[VictoriaMetricsWriter],
    error: Exception | None,
    status: int,
    says: str,
) -> None:
    target = Target(hold_first=True)
    target.error = error
    target.status = status
    writer = make(target, metrics)
    writers.append(writer)
    first = writer.submit(b"a\n")
    assert target.entered.wait(WAIT)
    second = writer.submit(b"b\n")
    target.release.set()
    for exc in results([first, second]):
        assert isinstance(exc, BackendUnavailable)
        assert says in str(exc)
    state = writer.status()
    assert state.last_write_ok is False
    assert state.last_error is not None and says in state.last_error
    assert writes(metrics, "unavailable") == 2


def test_a_refused_batch_is_retried_frame_by_frame(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics)
    writers.append(writer)
    first = writer.submit(b"first\n")
    assert target.entered.wait(WAIT)
    good, bad = writer.submit(b"good\n"), writer.submit(b"bad\n")
    target.release.set()
    outcome = results([first, good, bad])
    assert outcome[:2] == [None, None]
    assert isinstance(outcome[2], BackendRejected)
    assert "400" in str(outcome[2])
    assert target.posts == [b"first\n", b"good\nbad\n", b"good\n", b"bad\n"]
    assert writes(metrics, "rejected") == 2


def test_queue_is_bounded_by_bytes(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics, queue_max=10)
    writers.append(writer)
    in_flight = writer.submit(b"a" * 100)  # taken by the thread: no longer queued
    assert target.entered.wait(WAIT)
    queued = writer.submit(b"b" * 8)
    assert writer.queued_bytes == 8
    with pytest.raises(QueueFull, match="write queue is full"):
        writer.submit(b"c" * 3)
    fits = writer.submit(b"d" * 2)
    target.release.set()
    assert results([in_flight, queued, fits]) == [None] * 3
    assert metrics.registry.get_sample_value("hostvitals_collector_write_queue_bytes") == 0


def test_close_drains_the_queue_then_refuses(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target()
    writer = make(target, metrics, batch_max=1 << 20, delay=WAIT)  # would wait long for more
    pending = [writer.submit(b"x\n"), writer.submit(b"y\n")]
    writer.close(WAIT)
    assert all(f.done() for f in pending)
    assert results(pending) == [None, None]
    assert b"".join(target.posts) == b"x\ny\n"
    with pytest.raises(WriterClosed):
        writer.submit(b"z\n")


def test_close_fails_what_it_could_not_write_in_time(metrics: SelfMetrics) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics)
    stuck = writer.submit(b"a\n")
    assert target.entered.wait(WAIT)
    leftover = writer.submit(b"b\n")
    writer.close(timeout=0.01)
    assert isinstance(leftover.exception(WAIT), WriterClosed)
    target.release.set()
    assert stuck.exception(WAIT) is None
    writer.close(WAIT)


def test_cancelled_writes_are_skipped(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics)
    writers.append(writer)
    first = writer.submit(b"a\n")
    assert target.entered.wait(WAIT)
    gone = writer.submit(b"gone\n")
    kept = writer.submit(b"kept\n")
    assert gone.cancel()
    target.release.set()
    assert results([first, kept]) == [None, None]
    assert target.posts == [b"a\n", b"kept\n"]


class HeldByBody(Target):
    """Holds every POST whose body contains ``slow`` until released; others pass at once."""

    def post_import(self, body: bytes) -> tuple[int, str]:
        if b"slow" in body:
            self.entered.set()
            assert self.release.wait(WAIT)
        self.posts.append(body)
        return 204, ""


def test_a_slow_write_holds_up_only_its_own_batch(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = HeldByBody()
    target.release.clear()
    writer = VictoriaMetricsWriter(
        target,
        metrics,
        batch_max_bytes=1 << 20,
        max_delay_s=0.0,
        queue_max_bytes=1 << 20,
        concurrency=2,
    )
    writers.append(writer)
    slow = writer.submit(b"slow\n")
    assert target.entered.wait(WAIT)
    fast = [writer.submit(f"fast-{n}\n".encode()) for n in range(3)]
    for future in fast:
        assert future.result(WAIT) is None  # written by the other thread meanwhile
    assert not slow.done()
    target.release.set()
    assert slow.result(WAIT) is None
    assert target.posts[-1] == b"slow\n"  # stored last: it was the one held
    assert b"".join(target.posts).count(b"fast") == 3


def test_concurrency_must_be_positive(metrics: SelfMetrics) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        VictoriaMetricsWriter(
            Target(), metrics, batch_max_bytes=1, max_delay_s=0, queue_max_bytes=1, concurrency=0
        )


def recording(
    target: Target, metrics: SelfMetrics, recorded: list[list[tuple[str, str, int]]]
) -> VictoriaMetricsWriter:
    def on_written(frames: list[tuple[str, str, int]]) -> None:
        recorded.append(frames)

    return VictoriaMetricsWriter(
        target,
        metrics,
        batch_max_bytes=1 << 20,
        max_delay_s=0.0,
        queue_max_bytes=1 << 20,
        on_written=on_written,
    )


def test_the_frames_of_a_stored_batch_are_recorded_together_before_they_are_acknowledged(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    recorded: list[list[tuple[str, str, int]]] = []
    writer = recording(target, metrics, recorded)
    writers.append(writer)
    first = writer.submit(b"a\n", ("agent", "h", 1))
    assert target.entered.wait(WAIT)
    rest = [writer.submit(b"b\n", ("agent", "h", 2)), writer.submit(b"own metrics\n")]
    rest.append(writer.submit(b"c\n", ("other", "g", 7)))
    first.add_done_callback(lambda _: recorded.append([("done", "", 0)]))
    target.release.set()
    assert results([first, *rest]) == [None] * 4
    assert recorded == [
        [("agent", "h", 1)],
        [("done", "", 0)],
        [("agent", "h", 2), ("other", "g", 7)],
    ]


def test_frames_that_were_not_stored_are_not_recorded(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    recorded: list[list[tuple[str, str, int]]] = []
    writer = recording(target, metrics, recorded)
    writers.append(writer)
    first = writer.submit(b"a\n", ("agent", "h", 1))
    assert target.entered.wait(WAIT)
    # One bad frame in a batch: the batch is retried frame by frame, the good ones recorded.
    batch = [writer.submit(b"b\n", ("agent", "h", 2)), writer.submit(b"bad\n", ("agent", "h", 3))]
    target.release.set()
    assert results([first]) == [None]
    assert [type(e) for e in results(batch)] == [type(None), BackendRejected]
    target.status = 503
    assert isinstance(writer.submit(b"d\n", ("agent", "h", 4)).exception(WAIT), BackendUnavailable)
    assert recorded == [[("agent", "h", 1)], [("agent", "h", 2)]]


def test_a_failure_to_record_reaches_the_frames_of_the_batch(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    def on_written(frames: list[tuple[str, str, int]]) -> None:
        raise OSError("disk full")

    writer = VictoriaMetricsWriter(
        Target(),
        metrics,
        batch_max_bytes=1 << 20,
        max_delay_s=0.0,
        queue_max_bytes=1 << 20,
        on_written=on_written,
    )
    writers.append(writer)
    failed = writer.submit(b"a\n", ("agent", "h", 1)).exception(WAIT)
    assert isinstance(failed, OSError)
    assert writer.submit(b"own metrics\n").exception(WAIT) is None


def test_saturation_ratio_is_the_share_of_the_queue_in_use(
    metrics: SelfMetrics, writers: list[VictoriaMetricsWriter]
) -> None:
    target = Target(hold_first=True)
    writer = make(target, metrics, queue_max=10)
    writers.append(writer)

    def ratio() -> float | None:
        return metrics.registry.get_sample_value("hostvitals_collector_saturation_ratio")

    in_flight = writer.submit(b"a" * 100)
    assert target.entered.wait(WAIT)
    queued = writer.submit(b"b" * 8)
    assert ratio() == 0.8
    with pytest.raises(QueueFull):
        writer.submit(b"c" * 3)
    assert ratio() == 0.8
    target.release.set()
    assert results([in_flight, queued]) == [None] * 2
    assert ratio() == 0
