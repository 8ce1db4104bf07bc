"""Top-N process selection and the incremental scan, with faked psutil processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psutil

from hostvitals.agent.samplers.processes import (
    UNKNOWN,
    ProcessesSampler,
    ProcessSample,
    rows_for_process,
    top_processes,
)


class FakeProcess:
    """Answers like psutil.Process; a field set to an exception instance raises it."""

    def __init__(
        self, pid: int, cpu: Any = 0.0, rss: Any = 0, name: Any = "proc", user: Any = "root"
    ) -> None:
        self.pid = pid
        self.cpu, self.rss, self._name, self._user = cpu, rss, name, user

    @staticmethod
    def _answer(value: Any) -> Any:
        if isinstance(value, BaseException):
            raise value
        return value

    @contextlib.contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def cpu_percent(self, interval: float | None = None) -> float:
        assert interval is None, "the sampler must never block in cpu_percent"
        return self._answer(self.cpu)  # type: ignore[no-any-return]

    def memory_info(self) -> Any:
        return SimpleNamespace(rss=self._answer(self.rss))

    def name(self) -> str:
        return self._answer(self._name)  # type: ignore[no-any-return]

    def username(self) -> str:
        return self._answer(self._user)  # type: ignore[no-any-return]


CPU = "hostvitals_process_cpu_usage_ratio"
RSS = "hostvitals_process_resident_memory_bytes"


def proc_labels(pid: int, name: str = "proc", user: str = "root") -> tuple[tuple[str, str], ...]:
    return (("pid", str(pid)), ("name", name), ("user", user))


def by_metric(rows: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for metric, labels, value in rows:
        out.setdefault(metric, {})[dict(labels)["pid"]] = value
    return out


class TestTopProcesses:
    def test_union_of_top_cpu_and_top_memory(self) -> None:
        samples = [
            ProcessSample(1, 0.9, 10),
            ProcessSample(2, 0.5, 20),
            ProcessSample(3, 0.1, 900),
            ProcessSample(4, 0.0, 800),
            ProcessSample(5, None, 1000),
        ]
        chosen = [s.pid for s in top_processes(samples, 2)]
        assert chosen == [1, 2, 5, 3]

    def test_idle_and_unknown_cpu_are_not_ranked_by_cpu(self) -> None:
        samples = [ProcessSample(1, 0.0, None), ProcessSample(2, None, None)]
        assert top_processes(samples, 5) == []

    def test_ties_go_to_the_lower_pid(self) -> None:
        samples = [ProcessSample(pid, 0.5, 100) for pid in (9, 3, 7)]
        assert [s.pid for s in top_processes(samples, 2)] == [3, 7]

    def test_rows_carry_pid_name_user(self) -> None:
        rows = rows_for_process(ProcessSample(42, 1.5, 2048), "nginx", "www-data")
        labels = (("pid", "42"), ("name", "nginx"), ("user", "www-data"))
        assert rows == [
            ("hostvitals_process_cpu_usage_ratio", labels, 1.5),
            ("hostvitals_process_resident_memory_bytes", labels, 2048),
        ]
        assert rows_for_process(ProcessSample(1, None, None), "", "") == []
        long_name = rows_for_process(ProcessSample(1, None, 5), "n" * 500, "u")
        assert dict(long_name[0][1])["name"] == "n" * 128
        only_rss = rows_for_process(ProcessSample(1, None, 5), "", "")
        assert only_rss[0][1] == (("pid", "1"), ("name", UNKNOWN), ("user", UNKNOWN))


class TestScan:
    def test_cpu_is_known_only_from_the_second_scan_of_the_same_object(self) -> None:
        table = {1: FakeProcess(1, cpu=50.0, rss=100), 2: FakeProcess(2, cpu=250.0, rss=200)}
        sampler = ProcessesSampler(top_n=5, process_iter=lambda: list(table.values()), cpus=4)

        first = by_metric(sampler.collect())
        assert first == {RSS: {"1": 100, "2": 200}}  # no CPU figure yet

        second = by_metric(sampler.collect())
        # a share of one core: 250 % is 2.5 cores
        assert second == {CPU: {"2": 2.5, "1": 0.5}, RSS: {"1": 100, "2": 200}}

        # pid 1 replaced by a new process object (pid reuse): its first figure is not trusted
        table[1] = FakeProcess(1, cpu=75.0, rss=100)
        third = by_metric(sampler.collect())
        assert third == {CPU: {"2": 2.5}, RSS: {"1": 100, "2": 200}}

    def test_vanished_and_zombie_processes_are_left_out(self) -> None:
        procs = [
            FakeProcess(1, cpu=10.0, rss=100),
            FakeProcess(2, cpu=psutil.NoSuchProcess(2), rss=100),
            FakeProcess(3, cpu=10.0, rss=psutil.ZombieProcess(3)),
        ]
        sampler = ProcessesSampler(top_n=5, process_iter=lambda: procs)
        assert sampler.collect() == [(RSS, proc_labels(1), 100)]

    def test_a_winner_that_vanishes_before_its_name_is_read_is_dropped(self) -> None:
        procs = [
            FakeProcess(1, rss=100, name=psutil.NoSuchProcess(1)),
            FakeProcess(2, rss=50),
        ]
        sampler = ProcessesSampler(top_n=5, process_iter=lambda: procs)
        assert sampler.collect() == [(RSS, proc_labels(2), 50)]

    def test_permission_errors_leave_fields_unknown_not_the_process(self) -> None:
        procs = [
            FakeProcess(1, cpu=psutil.AccessDenied(1), rss=4096),
            FakeProcess(2, cpu=5.0, rss=psutil.AccessDenied(2)),
            FakeProcess(3, rss=10, name=psutil.AccessDenied(3), user=psutil.AccessDenied(3)),
        ]
        sampler = ProcessesSampler(top_n=5, process_iter=lambda: procs)
        sampler.scan()
        assert sampler.collect() == [
            (CPU, proc_labels(2), 0.05),  # the busiest; its memory unreadable
            (RSS, proc_labels(1), 4096),  # the largest; its CPU unreadable
            (CPU, proc_labels(3, UNKNOWN, UNKNOWN), 0.0),  # in by memory, idle
            (RSS, proc_labels(3, UNKNOWN, UNKNOWN), 10),
        ]

    def test_top_n_bounds_the_output(self) -> None:
        procs = [FakeProcess(pid, cpu=float(pid), rss=1000 - pid) for pid in range(1, 51)]
        sampler = ProcessesSampler(top_n=3, process_iter=lambda: procs)
        sampler.scan()
        rows = sampler.collect()
        cpu_order = [dict(lb)["pid"] for metric, lb, _ in rows if metric == CPU]
        assert cpu_order == ["50", "49", "48", "1", "2", "3"]  # busiest first, then largest
        assert by_metric(rows) == {
            CPU: {"50": 0.5, "49": 0.49, "48": 0.48, "1": 0.01, "2": 0.02, "3": 0.03},
            RSS: {"50": 950, "49": 951, "48": 952, "1": 999, "2": 998, "3": 997},
        }
        assert len(rows) == 12

    def test_negative_cpu_is_not_reported(self) -> None:
        procs = [FakeProcess(1, cpu=-3.0, rss=10)]
        sampler = ProcessesSampler(process_iter=lambda: procs)
        sampler.scan()
        assert sampler.collect() == [(RSS, proc_labels(1), 10)]


def test_cpu_is_capped_at_every_core_of_the_host() -> None:
    # Two scans a few milliseconds apart: one clock tick too many reads as 244 % on 2 cores.
    busy = FakeProcess(7, cpu=244.0)
    sampler = ProcessesSampler(process_iter=lambda: [busy], cpus=2)
    sampler.scan()
    (sample,) = sampler.scan()
    assert sample.cpu_ratio == 2.0


def test_real_scan_of_this_host_reads_this_process() -> None:
    me = psutil.Process()
    sampler = ProcessesSampler(top_n=1000)
    sampler.scan()
    before = me.memory_info().rss
    rows = sampler.collect()
    after = me.memory_info().rss
    mine = {metric: (lb, value) for metric, lb, value in rows if dict(lb)["pid"] == str(me.pid)}
    assert set(mine) == {CPU, RSS}  # among the 1000 largest, and scanned twice: CPU is known
    assert {lb for lb, _ in mine.values()} == {proc_labels(me.pid, me.name(), me.username())}
    slack = 16 * 2**20  # the sampler reads its RSS between the two readings here
    assert min(before, after) - slack <= mine[RSS][1] <= max(before, after) + slack
    assert 0.0 <= mine[CPU][1] <= (os.cpu_count() or 1)
