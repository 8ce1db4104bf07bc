"""The faults an experiment injects: each one starts, holds for the experiment's duration, and
ends; :meth:`Fault.end` restores what :meth:`Fault.begin` broke (a killed process is started
again on the same port with the same data)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hostvitals.chaos.procs import Child, command
from hostvitals.chaos.proxy import Mode
from hostvitals.chaos.stack import Stack

Target = Literal["raw", "collector", "agent"]


class Fault(Protocol):
    def describe(self) -> str: ...
    def begin(self, stack: Stack) -> None: ...
    def end(self, stack: Stack) -> None: ...


def _child(stack: Stack, target: Target) -> Child:
    if target == "raw":
        if stack.raw.child is None:
            raise RuntimeError("the raw store is not running")
        return stack.raw.child
    if target == "collector":
        if stack.collector is None:
            raise RuntimeError("the collector is not running")
        return stack.collector
    return stack.agents[0].child


@dataclass(frozen=True)
class Hang:
    """SIGSTOP: the process keeps its sockets open and answers nothing."""

    target: Target

    def describe(self) -> str:
        return f"SIGSTOP {self.target}"

    def begin(self, stack: Stack) -> None:
        _child(stack, self.target).signal(signal.SIGSTOP)

    def end(self, stack: Stack) -> None:
        _child(stack, self.target).signal(signal.SIGCONT)


@dataclass(frozen=True)
class Kill:
    """SIGKILL, then a start on the same port and data once the fault ends."""

    target: Target

    def describe(self) -> str:
        return f"kill -9 {self.target}"

    def begin(self, stack: Stack) -> None:
        _child(stack, self.target).kill()

    def end(self, stack: Stack) -> None:
        if self.target == "raw":
            stack.raw.start()
            stack.raw.wait_ready()
        elif self.target == "collector":
            stack.start_collector()
        else:
            stack.restart_agent(stack.agents[0])


@dataclass(frozen=True)
class Network:
    """A fault on the path from the agents to the collector (the proxy's mode)."""

    mode: Mode

    def describe(self) -> str:
        if self.mode.partition:
            return "partition agent | collector"
        parts = []
        if self.mode.latency_s:
            parts.append(f"+{self.mode.latency_s * 1000:g} ms per chunk")
        if self.mode.loss:
            parts.append(f"{self.mode.loss:.0%} of chunks cut their connection")
        return ", ".join(parts)

    def begin(self, stack: Stack) -> None:
        stack.proxy.set_mode(self.mode)

    def end(self, stack: Stack) -> None:
        stack.proxy.set_mode(Mode())


@dataclass
class DiskFull:
    """Fill the agent's state file system (a size-limited tmpfs) to the last byte."""

    filler: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return "agent's spool file system full (ENOSPC)"

    def begin(self, stack: Stack) -> None:
        path = stack.agents[0].state_dir / "chaos-filler"
        self.filler.append(str(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        chunk = b"\0" * 65_536
        try:
            while chunk:  # halve the writes near the end, down to the last byte
                try:
                    os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(fd)

    def end(self, stack: Stack) -> None:
        for path in self.filler:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self.filler.clear()


@dataclass
class Stress:
    """stress-ng on this host for the fault's duration (CPU or memory pressure)."""

    args: Sequence[str]
    label: str
    child: Child | None = None

    def describe(self) -> str:
        return self.label

    def begin(self, stack: Stack) -> None:
        self.child = Child(
            [command("stress-ng"), *self.args, "--quiet"], stack.root / "logs" / "stress.log"
        )
        self.child.start()

    def end(self, stack: Stack) -> None:
        if self.child is not None:
            self.child.stop(timeout=5)
            self.child = None
