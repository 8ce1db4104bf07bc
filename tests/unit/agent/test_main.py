"""The agent as a whole: --once, import hygiene, shutdown flush, real samplers vs catalogue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hostvitals.agent.app import Agent
from hostvitals.agent.batcher import check_row_identity
from hostvitals.agent.config import load_config
from hostvitals.agent.once import identity
from hostvitals.agent.sampling import build_samplers
from hostvitals.agent.state import StateStore
from hostvitals.shared.codec import decode_frame

FORBIDDEN = ("fastapi", "pydantic", "starlette", "uvicorn", "collector", "aiohttp")
"""The collector's stack, and aiohttp (about 20 MB of resident memory the agent does not need)."""


def agent_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HOSTVITALS_AGENT_")}


def test_once_prints_a_valid_frame_and_imports_nothing_of_the_collector(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from hostvitals.agent.__main__ import main\n"
        "code = main(['--once', '--state-dir', sys.argv[1], '--host', 'once-test'])\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print('FORBIDDEN:', bad, file=sys.stderr)\n"
        "sys.exit(3 if bad else code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        env=agent_env(),
        check=False,
    )
    assert "FORBIDDEN: []" in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["host"] == "once-test"
    assert len(doc["timestamps_ms"]) == 2
    assert doc["timestamps_ms"][1] - doc["timestamps_ms"][0] == 1000
    metrics = {s["metric"] for s in doc["series"]}
    assert {"node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_load1"} <= metrics
    assert "2 ticks" in result.stderr
    # the id was persisted; --once did not use up a sequence number
    assert (tmp_path / "state" / "agent_id").read_text().strip() == doc["agent_id"]
    with StateStore(tmp_path / "state") as store:
        assert store.peek_seq() == doc["seq"] == 0


def test_importing_every_agent_module_pulls_in_no_collector_code() -> None:
    script = (
        "import sys, pkgutil, importlib, agent, hostvitals.agent.samplers\n"
        "for pkg in (agent, hostvitals.agent.samplers):\n"
        "    for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_bad_configuration_exits_2_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hostvitals.agent", "--once", "--interval", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=agent_env(),
        check=False,
    )
    assert result.returncode == 2
    assert "interval must be between 1 and 60" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_real_sampler_emits_only_catalogue_series() -> None:
    scheduled, agent_self = build_samplers(load_config())
    assert agent_self is not None
    for entry in scheduled:
        sampler = entry.sampler
        rows = sampler.collect()
        if sampler.name in ("cpu", "memory", "load", "agent"):
            assert rows, sampler.name
        for metric, labels, value in rows:
            assert check_row_identity(metric, labels) is None, (sampler.name, metric, labels)
            assert type(value) in (int, float), (metric, value)


class Ingest:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(status=204)


@pytest.fixture
async def ingest() -> AsyncIterator[tuple[Ingest, str]]:
    sink = Ingest()
    app = web.Application()
    app.router.add_post("/api/v1/ingest", sink.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield sink, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_stop_flushes_the_current_frame_and_sends_it(
    tmp_path: Path, ingest: tuple[Ingest, str]
) -> None:
    sink, url = ingest
    config = load_config(
        environ={
            "HOSTVITALS_AGENT_COLLECTOR_URLS": url,
            "HOSTVITALS_AGENT_COMPRESSION": "gzip",
            "HOSTVITALS_AGENT_HOST": "flush-test",
            "HOSTVITALS_AGENT_SAMPLERS__PROCESSES__ENABLED": "false",
        }
    )
    stop = asyncio.Event()
    with StateStore(tmp_path) as state:
        agent = Agent(config, state)
        running = asyncio.create_task(agent.run(stop))
        async with asyncio.timeout(20):
            while agent.batcher.ticks < 2:
                await asyncio.sleep(0.05)
        assert sink.bodies == []  # flush_interval is 10 s: nothing sent yet
        stop.set()
        await running
    (frame,) = [decode_frame(body) for body in sink.bodies]
    assert frame.host == "flush-test"
    assert frame.seq == 0
    assert len(frame.timestamps_ms) >= 2
    metrics = {s.metric for s in frame.series}
    assert "hostvitals_agent_sampler_duration_seconds" in metrics
    assert "hostvitals_process_cpu_usage_ratio" not in metrics


async def test_sigterm_stops_the_agent_cleanly(tmp_path: Path, ingest: tuple[Ingest, str]) -> None:
    sink, url = ingest
    env = agent_env() | {
        "HOSTVITALS_AGENT_FLUSH_INTERVAL": "1",
        "HOSTVITALS_AGENT_COMPRESSION": "gzip",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent",
        "--collector-url",
        url,
        "--state-dir",
        str(tmp_path),
        "--host",
        "sigterm-test",
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        async with asyncio.timeout(30):
            while not sink.bodies:
                await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert "agent stopped" in log
    assert "Traceback" not in log
    seqs = [decode_frame(body).seq for body in sink.bodies]
    assert seqs == sorted(set(seqs)) and seqs[0] == 0


def test_once_works_without_a_usable_state_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = load_config(environ={"HOSTVITALS_AGENT_STATE_DIR": str(blocker / "state")})
    agent_id, seq = identity(config)
    assert agent_id and seq == 0
    assert not (blocker.parent / "state").exists()


def test_once_reads_the_state_of_a_running_agent(tmp_path: Path) -> None:
    config = load_config(environ={"HOSTVITALS_AGENT_STATE_DIR": str(tmp_path)})
    with StateStore(tmp_path, block=5) as running:
        running.next_seq()
        assert identity(config) == (running.agent_id, 5)
