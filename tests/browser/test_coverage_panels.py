"""The host page's inventory strip, services-and-containers table and disks-and-GPUs charts,
and the fleet page's uptime, agent version and disk forecast, in real Chromium against a real
stack.

The stack's agent runs on this machine (its inventory is this machine's); a second host with
containers, an old agent and a filling disk is made up: its frames go through the ingest API,
its disk's past six hours straight into the raw VictoriaMetrics. It also sends SMART and GPU
series, as an agent with those samplers on does.
"""

from __future__ import annotations

import platform
import re
import threading
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import orjson
import pytest
import requests
from playwright.sync_api import Page, Request, expect

from hostvitals.collector.live.forecast import forecast_query
from hostvitals.shared.codec import encode_frame
from hostvitals.shared.protocol import Frame, Series
from tests.browser.conftest import PageProblems, Stack, start_stack
from tests.support.processes import VictoriaMetrics, wait_until

pytestmark = pytest.mark.e2e

GiB = 2**30
# name, kind, runtime, CPU cores, memory bytes: what the made-up host runs.
WORKLOADS = (
    ("web", "container", "docker", 0.5, 3 * GiB),
    ("postgres.service", "service", "systemd", 1.25, 1 * GiB),
    ("cron.service", "service", "systemd", 0.05, 2 * GiB),
    ("other", "other", "mixed", 0.2, GiB // 2),
)
OLD_AGENT = "0.0.1"
FILL_HOURS_LEFT = 5.0


def os_pretty_name() -> str:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        if Path(path).exists():
            for line in Path(path).read_text().splitlines():
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def made_up_frame(host: str, agent_id: str, seq: int, now_s: float) -> Frame:
    """Two ticks 10 s apart; counters are rate x time, so every rate is exact."""
    ticks = [int((now_s - 10) * 1000), int(now_s * 1000)]
    series: list[Series] = []
    for name, kind, runtime, cores, memory in WORKLOADS:
        who = {"kind": kind, "runtime": runtime, "name": name}
        series += [
            Series("container_cpu_usage_seconds_total", who, [cores * t / 1000 for t in ticks]),
            Series("container_memory_usage_bytes", who, [memory, memory]),
            Series("container_fs_writes_bytes_total", who, [4096 * t / 1000 for t in ticks]),
        ]
        if kind != "other":
            series.append(
                Series(
                    "container_pressure_io_waiting_seconds_total",
                    who,
                    [0.1 * t / 1000 for t in ticks],
                )
            )
    image = {"runtime": "docker", "name": "web", "image": "nginx:1.27", "id": "0123456789ab"}
    disk = {"device": "/dev/nvme0"}
    card = {
        "gpu": "0",
        "UUID": "GPU-5d1a7c2e-0000-4000-8000-000000000000",
        "pci_bus_id": "00000000:01:00.0",
        "device": "nvidia0",
        "modelName": "NVIDIA L4",
    }
    series += [
        Series("smartctl_device_temperature", {**disk, "temperature_type": "current"}, [41, 41]),
        Series("smartctl_device_percentage_used", disk, [7, 7]),
        Series("DCGM_FI_DEV_GPU_UTIL", card, [63, 63]),
        Series("DCGM_FI_DEV_FB_USED", card, [6144, 6144]),
        Series("DCGM_FI_DEV_FB_FREE", card, [18432, 18432]),
        Series("DCGM_FI_DEV_GPU_TEMP", card, [55, 55]),
        Series("DCGM_FI_DEV_POWER_USAGE", card, [42.5, 42.5]),
    ]
    series += [
        Series("hostvitals_container_info", image, [1, 1]),
        Series("hostvitals_agent_build_info", {"version": OLD_AGENT}, [1, 1]),
        Series("node_boot_time_seconds", {}, [now_s - 3 * 86400, now_s - 3 * 86400]),
    ]
    return Frame(agent_id, host, seq, ticks[-1], 10.0, ticks, series)


def import_filling_disk(vm: VictoriaMetrics, host: str, now_s: float) -> None:
    """Six hours of a disk losing space steadily: empty ``FILL_HOURS_LEFT`` hours from now."""
    size = 100 * GiB
    per_s = size / ((6 + FILL_HOURS_LEFT) * 3600)
    stamps = [now_s - 6 * 3600 + 60 * i for i in range(6 * 60)]
    labels = {"host": host, "device": "/dev/vdb", "mountpoint": "/data", "fstype": "ext4"}
    lines = [
        {
            "metric": {"__name__": name, **labels},
            "timestamps": [int(t * 1000) for t in stamps],
            "values": values,
        }
        for name, values in (
            ("node_filesystem_avail_bytes", [size - per_s * (t - stamps[0]) for t in stamps]),
            ("node_filesystem_size_bytes", [size] * len(stamps)),
        )
    ]
    body = b"\n".join(orjson.dumps(line) for line in lines)
    requests.post(f"{vm.url}/api/v1/import", data=body, timeout=10).raise_for_status()

    def predicted() -> bool:
        answer = requests.get(
            f"{vm.url}/api/v1/query",
            params={"query": forecast_query("tmpfs"), "nocache": "1"},
            timeout=5,
        ).json()
        return any(r["metric"].get("host") == host for r in answer["data"]["result"])

    wait_until(predicted, 30, "VictoriaMetrics to predict the disk full", step=0.5)


@pytest.fixture(scope="module")
def filling_disk(victoria_metrics: VictoriaMetrics) -> str:
    """The made-up host's name; its disk's history is in VictoriaMetrics before the collector
    starts. (The test VictoriaMetrics trusts its caches for any past time,
    ``-search.cacheTimestampOffset=0s``: history written after a first forecast query would
    stay unseen by that query.)"""
    host = f"boxes-{uuid.uuid4().hex[:8]}"
    import_filling_disk(victoria_metrics, host, time.time())
    return host


@pytest.fixture(scope="module")
def stack(
    built_dashboard: Path,
    tmp_path_factory: pytest.TempPathFactory,
    victoria_metrics: VictoriaMetrics,
    vm_tiers: dict[str, VictoriaMetrics],
    filling_disk: str,
) -> Iterator[Stack]:
    """A collector whose disk forecast is at most a second old, and one real agent."""
    running = start_stack(
        tmp_path_factory.mktemp("coverage-stack"),
        victoria_metrics,
        vm_tiers,
        env={"HOSTVITALS__UI__FORECAST_REFRESH_S": "1"},
    )
    host = f"real-{uuid.uuid4().hex[:8]}"
    try:
        running.start_agent(host)
        running.wait_for_host(host)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def made_up_host(stack: Stack, filling_disk: str) -> Iterator[str]:
    """A host with containers, an old agent and a disk filling up, kept up while tests run."""
    host = filling_disk
    agent_id = str(uuid.uuid4())
    stop = threading.Event()
    seq = iter(range(1, 10**6))

    def push() -> None:
        frame = made_up_frame(host, agent_id, next(seq), time.time())
        response = requests.post(
            f"{stack.url}/api/v1/ingest",
            data=encode_frame(frame),
            headers={"Content-Type": "application/x-msgpack"},
            timeout=5,
        )
        assert response.status_code == 204, response.text

    push()

    def queryable() -> bool:
        """Its samples are in VictoriaMetrics' answers, past the collector's query cache: a page
        loaded before that would be answered empty, and that answer kept and served for up to
        twice the cache's time to live to the tests after it."""
        now = time.time()
        answer = requests.get(
            f"{stack.url}/api/v1/metrics/devices",
            params={"host": host, "start": now - 900, "end": now, "nocache": 1},
            timeout=5,
        )
        return answer.status_code == 200 and bool(answer.json()["data"]["series"])

    wait_until(queryable, 30, f"{host}'s first frame in VictoriaMetrics' answers", step=0.2)

    def keep_up() -> None:
        while not stop.wait(2.0):
            push()

    thread = threading.Thread(target=keep_up, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        stop.set()
        thread.join(10)


def real_host(stack: Stack) -> str:
    return next(iter(stack.agents))


def test_inventory_strip_shows_what_the_real_host_is(
    stack: Stack, page: Page, problems: PageProblems
) -> None:
    host = real_host(stack)
    page.goto(f"{stack.url}/hosts/{quote(host)}?range=15m")
    strip = page.locator("#inventory")
    expect(strip.locator('[data-item="os"] dd')).to_have_text(os_pretty_name())
    expect(strip.locator('[data-item="kernel"] dd')).to_have_text(platform.release())
    expect(strip.locator('[data-item="agent"] dd')).to_have_text(version("hostvitals"))
    expect(strip).to_have_attribute("data-outdated", "false")
    # Up for days, hours or minutes: "3d 4h", "5h 12m", "12m 3s".
    expect(strip.locator('[data-item="uptime"] dd')).to_have_text(re.compile(r"^\d+[dhm] \d+"))
    cpuinfo = Path("/proc/cpuinfo").read_text()
    if "model name" in cpuinfo:
        model = cpuinfo.split("model name", 1)[1].split(":", 1)[1].splitlines()[0].strip()
        expect(strip.locator('[data-item="cpu"] dd')).to_have_text(model)
    # This machine has no cgroup v2 workloads the agent would report... or it has; either
    # way the section is there and says what it shows.
    expect(page.locator("#section-workloads")).to_be_visible()
    problems.assert_clean()


def test_a_host_sampling_every_10_s_has_its_range_loaded_once_at_its_step(
    stack: Stack, made_up_host: str, page: Page, problems: PageProblems
) -> None:
    """The first load waits for the host's first live event, which tells its interval: loaded
    before it, at the default of 1 s, a 15 minute range was asked for at a 2 s step and then
    again, whole, at 10 s once the interval was known."""
    steps: list[str] = []

    def note(request: Request) -> None:
        url = urlparse(request.url)
        if url.path == "/api/v1/metrics/cpu":
            steps.extend(parse_qs(url.query).get("step", []))

    page.on("request", note)
    page.goto(f"{stack.url}/hosts/{quote(made_up_host)}?range=15m")
    # The first load, then a refresh after the host's next frame (one every 2 s).
    page.wait_for_function("() => Number(document.querySelector('main').dataset.loaded || 0) >= 2")
    assert steps and set(steps) == {"10"}, steps
    problems.assert_clean()


def test_workloads_table_is_live_sortable_and_has_sparklines(
    stack: Stack, made_up_host: str, page: Page, problems: PageProblems
) -> None:
    page.goto(f"{stack.url}/hosts/{quote(made_up_host)}?range=15m")
    rows = page.locator("#workloads tbody tr[data-workload]")
    expect(rows).to_have_count(len(WORKLOADS))
    names = lambda: rows.locator("th .value").all_inner_texts()  # noqa: E731
    # Busiest first, "other" (the rest, added up) always last.
    expect(rows.locator("th .value")).to_have_text(
        ["postgres.service", "web", "cron.service", "other"]
    )
    web = page.locator('#workloads tr[data-workload="container/docker/web"]')
    expect(web.locator('td[data-col="cpu"] .value')).to_have_text("0.50 cores")
    expect(web.locator('td[data-col="memory"] .value')).to_have_text("3.0 GiB")
    expect(web.locator('td[data-col="write"] .value')).to_have_text("4.0 KiB/s")
    expect(web.locator('td[data-col="pio"] .value')).to_have_text("10.0 %")
    expect(web.locator("th .image")).to_have_text(re.compile("nginx:1.27"))
    # Sparklines of CPU and memory in every row.
    expect(web.locator('td[data-col="cpu"] .spark canvas')).to_have_count(1)
    expect(web.locator('td[data-col="memory"] .spark canvas')).to_have_count(1)
    page.locator('#workloads button[data-sort="memory"]').click()
    expect(page.locator('#workloads th[data-col="memory"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(rows.locator("th .value")).to_have_text(
        ["web", "cron.service", "postgres.service", "other"]
    )
    page.locator('#workloads button[data-sort="memory"]').click()
    expect(rows.locator("th .value")).to_have_text(
        ["postgres.service", "cron.service", "web", "other"]
    )
    assert names()[-1] == "other"
    # The made-up host's agent is older than the collector: the strip says so.
    expect(page.locator("#inventory")).to_have_attribute("data-outdated", "true")
    expect(page.locator('#inventory [data-item="agent"] dd')).to_have_text(
        f"{OLD_AGENT} (outdated)"
    )
    problems.assert_clean()


def legend(page: Page, chart_id: str) -> list[str]:
    return page.locator(f'figure[data-chart="{chart_id}"] .legend-label').all_inner_texts()


def test_disks_and_gpus_show_where_their_samplers_report(
    stack: Stack, made_up_host: str, page: Page, problems: PageProblems
) -> None:
    """The SMART and GPU charts of a host whose agent sends them; a host without them (this
    machine's agent, whose smart and gpu samplers are off by default) has no such section."""
    page.goto(f"{stack.url}/hosts/{quote(made_up_host)}?range=15m")
    section = page.locator("#section-disks-and-gpus")
    expect(section).to_be_visible()
    charts = {
        "disk-temperature": ["/dev/nvme0"],
        "disk-endurance": ["/dev/nvme0"],
        "gpu-usage": ["gpu 0 NVIDIA L4 busy", "gpu 0 NVIDIA L4 memory"],
        "gpu-temperature": ["gpu 0 NVIDIA L4"],
        "gpu-power": ["gpu 0 NVIDIA L4"],
    }
    for chart_id, labels in charts.items():
        figure = page.locator(f'figure[data-chart="{chart_id}"]')
        expect(figure).to_be_visible()
        expect(figure).to_have_attribute("data-lines", str(len(labels)))
        assert legend(page, chart_id) == labels
    problems.assert_clean()

    page.goto(f"{stack.url}/hosts/{quote(real_host(stack))}?range=15m")
    page.wait_for_function("() => Number(document.querySelector('main').dataset.loaded || 0) >= 1")
    expect(page.locator("#section-cpu")).to_be_visible()
    expect(section).to_be_hidden()
    problems.assert_clean()


def test_fleet_shows_uptime_agent_version_and_the_disk_forecast(
    stack: Stack, made_up_host: str, page: Page, problems: PageProblems
) -> None:
    page.goto(f"{stack.url}/")
    made_up = page.locator(f'tr[data-host="{made_up_host}"]')
    real = page.locator(f'tr[data-host="{real_host(stack)}"]')
    expect(made_up.locator('td[data-col="version"] .value')).to_have_text(f"{OLD_AGENT} (outdated)")
    expect(made_up).to_have_attribute("data-outdated", "true")
    expect(made_up.locator('td[data-col="uptime"] .value')).to_have_text(re.compile(r"^3d 0h"))
    expect(real.locator('td[data-col="version"] .value')).to_have_text(version("hostvitals"))
    expect(real).to_have_attribute("data-outdated", "false")
    expect(real.locator('td[data-col="uptime"] .value')).to_have_text(re.compile(r"\d"))
    # Five hours left at the pace of the last six (give or take the minute of the samples).
    expect(made_up.locator('td[data-col="disk"] .forecast')).to_have_text(
        re.compile(r"^/data full in (4h 5\dm|5h \dm)$")
    )
    expect(real.locator('td[data-col="disk"] .forecast')).to_be_hidden()
    page.locator('button[data-sort="version"]').click()
    expect(page.locator('th[data-col="version"]')).to_have_attribute("aria-sort", "descending")
    problems.assert_clean()
