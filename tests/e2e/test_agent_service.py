"""The agent as a systemd service: a real agent process, sd_notify over a socket this test
reads, SIGHUP reloads and SIGTERM, and real local HTTP receivers standing in for the
collector (one that takes frames, one that reads them and hangs up without an answer).
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hostvitals.shared.codec import decode_frame
from hostvitals.shared.protocol import Frame
from tests.e2e.conftest import console_script
from tests.support.processes import ManagedProcess, wait_until

pytestmark = pytest.mark.e2e


class Receiver:
    """Takes ingest POSTs (uncompressed) and keeps the frames; with ``answer=False`` it reads
    each request and closes the connection without answering (the frame was not taken).
    """

    def __init__(self, *, answer: bool = True) -> None:
        self.frames: list[Frame] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.frames.append(decode_frame(body))
                if answer:
                    self.send_response(204)
                    self.end_headers()
                else:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def silent() -> Iterator[Receiver]:
    r = Receiver(answer=False)
    yield r
    r.close()


class Notifications:
    """The datagram socket systemd would listen on."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.seen: list[str] = []

    def poll(self) -> list[str]:
        try:
            while True:
                self.seen.extend(self.sock.recv(4096).decode().split("\n"))
        except TimeoutError:
            pass
        return self.seen

    def wait_for(self, line: str, after: int = 0, timeout: float = 20) -> int:
        """Index of the first ``line`` at or after position ``after``."""

        def found() -> bool:
            return line in self.poll()[after:]

        wait_until(found, timeout, line, step=0.05)
        return self.seen.index(line, after)


def config(collector: str, state: Path) -> str:
    return f"""
collector_urls = ["{collector}"]
state_dir = "{state}"
flush_interval = 1
outage_flush_interval = 1
catchup_jitter = 0
retry_backoff_max = 1
compression = "none"

[samplers.processes]
enabled = false
"""


def test_notify_watchdog_reload_and_stop(
    tmp_path: Path, receiver: Receiver, silent: Receiver
) -> None:
    notifications = Notifications(tmp_path / "notify")
    state = tmp_path / "state"
    conf = tmp_path / "agent.toml"
    conf.write_text(config(silent.url, state))  # reads the frames, never answers
    agent = ManagedProcess(
        [console_script("hostvitals-agent"), "--config", str(conf), "--host", "svc-test"],
        tmp_path / "agent.log",
        env={"NOTIFY_SOCKET": notifications.path, "WATCHDOG_USEC": "1000000"},
    )
    agent.start()
    try:
        ready = notifications.wait_for("READY=1")
        first_ping = notifications.wait_for("WATCHDOG=1", ready)
        notifications.wait_for("WATCHDOG=1", first_ping + 1)  # pinged again, every 0.5 s
        # frames pile up in the spool: no answer from the collector. The agent offered its
        # frames to the configured collector, and tried again (retry_backoff_max is 1 s).
        wait_until(lambda: len(silent.frames) >= 2, 20, "two attempts at the silent collector")
        wait_until(
            lambda: f"sending to {silent.url} failed (connection)" in agent.log_path.read_text(),
            20,
            "the failed attempt in the log",
        )
        assert set(silent.paths) == {"/api/v1/ingest"}
        assert {frame.host for frame in silent.frames} == {"svc-test"}
        assert sum(segment.stat().st_size for segment in (state / "spool").glob("*.seg")) > 0

        # a broken file: the reload fails, the agent keeps running the old configuration
        conf.write_text("interval = [")
        agent.signal(signal.SIGHUP)
        wait_until(lambda: "reload failed" in agent.log_path.read_text(), 10, "reload error")
        assert agent.running()

        # the collector URL changes live; a new state_dir is refused until a restart
        conf.write_text(config(receiver.url, tmp_path / "elsewhere"))
        mark = len(notifications.poll())
        agent.signal(signal.SIGHUP)
        reloading = notifications.wait_for("RELOADING=1", mark)
        notifications.wait_for("READY=1", reloading)
        wait_until(lambda: len(receiver.frames) >= 5, 20, "frames at the new collector")

        agent.signal(signal.SIGTERM)
        notifications.wait_for("STOPPING=1", reloading)
        # One SIGTERM, as systemd sends: a second one (stop() sends one to a process still
        # running) could land after the event loop gave its handlers back.
        assert agent.wait(timeout=20) == 0
    finally:
        agent.stop()
        notifications.sock.close()

    log = agent.log_path.read_text()
    assert "state_dir change only on restart" in log
    assert not (tmp_path / "elsewhere").exists()
    assert "Traceback" not in log
    # everything sampled before the reload was delivered after it: no seq missing, none twice
    seqs = [frame.seq for frame in receiver.frames]
    assert sorted(seqs) == list(range(len(seqs))), seqs
    # the frames the silent collector never answered for were kept and delivered later
    assert {frame.seq for frame in silent.frames} <= set(seqs)
    ticks = [ts for frame in receiver.frames for ts in frame.timestamps_ms]
    assert len(ticks) == len(set(ticks))
    assert (state / "spool").is_dir()
