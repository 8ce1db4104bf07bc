"""A fault-injecting TCP proxy between the agents and the collector.

``tc netem`` needs a kernel module that many hosts (and containers) lack, so latency, loss
and partitions are injected in user space: every agent talks to the proxy, which forwards to
the collector and, depending on its :class:`Mode`, delays each chunk, cuts connections at
random (what a lossy link looks like to TCP: stalls and resets), or blackholes everything (a
partition: connections open, nothing comes back). On the way back it reads the HTTP status
line and ``Retry-After`` of every response, so the runner sees the collector's answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

READ_SIZE: Final = 65_536
MAX_HEADER: Final = 16_384


@dataclass
class Mode:
    latency_s: float = 0.0
    loss: float = 0.0  # chance that a chunk cuts its connection (and a new one is refused)
    partition: bool = False


@dataclass
class Answers:
    """Responses seen on the way back, by status code."""

    codes: Counter[int] = field(default_factory=Counter)
    without_retry_after: Counter[int] = field(default_factory=Counter)  # 429/503 lacking it
    unparsed: int = 0

    def snapshot(self) -> Answers:
        return Answers(Counter(self.codes), Counter(self.without_retry_after), self.unparsed)

    def since(self, earlier: Answers) -> Answers:
        return Answers(
            self.codes - earlier.codes,
            self.without_retry_after - earlier.without_retry_after,
            self.unparsed - earlier.unparsed,
        )


class ResponseReader:
    """Follows HTTP/1.1 responses in a byte stream (Content-Length bodies only)."""

    def __init__(self, answers: Answers) -> None:
        self._answers = answers
        self._buffer = b""
        self._skip = 0
        self._lost = False

    def feed(self, data: bytes) -> None:
        if self._lost:
            return
        while data:
            if self._skip:
                taken = min(self._skip, len(data))
                self._skip -= taken
                data = data[taken:]
                continue
            self._buffer += data
            data = b""
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER:
                    self._give_up()
                return
            head, data = self._buffer[:end], self._buffer[end + 4 :]
            self._buffer = b""
            if not self._parse(head):
                return

    def _parse(self, head: bytes) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            self._give_up()
            return False
        code = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._answers.codes[code] += 1
        if code in (429, 503) and "retry-after" not in headers:
            self._answers.without_retry_after[code] += 1
        if "chunked" in headers.get("transfer-encoding", ""):
            self._give_up()
            return False
        self._skip = int(headers.get("content-length", "0") or 0)
        return True

    def _give_up(self) -> None:
        self._answers.unparsed += 1
        self._lost = True
        self._buffer = b""


class FaultProxy:
    """Listens on ``127.0.0.1:port`` and forwards to ``127.0.0.1:target_port``."""

    def __init__(self, port: int, target_port: int, seed: int = 0) -> None:
        self.port = port
        self.target_port = target_port
        self.mode = Mode()
        self.answers = Answers()
        self._random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"the proxy could not listen on {self.port}: {self._error}")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def set_mode(self, mode: Mode) -> None:
        """Change the fault; leaving a partition cuts the connections it blackholed."""
        healed = self.mode.partition and not mode.partition
        self.mode = mode
        if healed:
            self._loop.call_soon_threadsafe(self._cut_all)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", self.port)
            )
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._cut_all()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self._writers.add(client_w)
        try:
            if self.mode.loss and self._random.random() < self.mode.loss:
                client_w.transport.abort()
                return
            try:
                upstream_r, upstream_w = await asyncio.open_connection(
                    "127.0.0.1", self.target_port
                )
            except OSError:
                client_w.transport.abort()
                return
            self._writers.add(upstream_w)
            reader = ResponseReader(self.answers)
            try:
                await asyncio.gather(
                    self._pipe(client_r, upstream_w, client_w, None),
                    self._pipe(upstream_r, client_w, upstream_w, reader),
                )
            finally:
                self._writers.discard(upstream_w)
                upstream_w.transport.abort()
        finally:
            self._writers.discard(client_w)
            client_w.transport.abort()

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        source_w: asyncio.StreamWriter,
        responses: ResponseReader | None,
    ) -> None:
        try:
            while data := await source.read(READ_SIZE):
                mode = self.mode
                if mode.partition:
                    continue  # blackholed: read and dropped, nothing answers
                if mode.loss and self._random.random() < mode.loss:
                    break
                if mode.latency_s:
                    await asyncio.sleep(mode.latency_s)
                if responses is not None:
                    responses.feed(data)
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sink.transport.abort()
            source_w.transport.abort()
