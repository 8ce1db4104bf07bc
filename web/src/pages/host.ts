// Host: what the host is, headline numbers, charts of every family over a chosen range (synced
// crosshair), and live tables of top processes and of services and containers. Live ranges
// follow "now": each new frame from the stream pulls just the newest points of every family.
import { familyRange, isAbort, tierName, type FleetRow, type NamedSeries, type Point, type ProcessRow, type RangeAnswer, type Workload } from "../api";
import { ChartGroup, TimeChart, type Line } from "../chart";
import { h, clear, debounce } from "../dom";
import { byteRate, bytes, duration, number, percent, type Unit } from "../format";
import { showState, subscribe } from "../live";
import { InventoryStrip } from "../inventory";
import { bounds, fromParams, isLive, rangePicker, stepFor, toParams, type TimeRange } from "../timerange";
import type { Page } from "../page";
import { WORKLOAD_SPARK_WINDOW_S, WorkloadTable } from "./workloads";

type Family = "cpu" | "memory" | "disk" | "network" | "pressure" | "system" | "sensors" | "devices";
const FAMILIES: Family[] = ["cpu", "memory", "disk", "network", "pressure", "system", "sensors", "devices"];
/** How long the first load waits for the host's first live event (its sampling interval). */
const FIRST_EVENT_WAIT_MS = 2000;

interface ChartSpec {
  id: string;
  family: Family;
  title: string;
  unit: Unit;
  yMax?: number;
  /** The legend label of a series of the family's answer, or null when it is not drawn here. */
  pick: (s: NamedSeries) => string | null;
}

const dev = (s: NamedSeries) => s.labels.device ?? "?";
const named = (names: Record<string, string>) => (s: NamedSeries) => names[s.name] ?? null;
const gpu = (s: NamedSeries) => `gpu ${s.labels.gpu ?? "?"}${s.labels.modelName ? ` ${s.labels.modelName}` : ""}`;

/** `optional`: the section, and each of its charts, shows only when it has lines (the samplers
 * behind it are off by default). */
const SECTIONS: { title: string; optional?: boolean; charts: ChartSpec[] }[] = [
  {
    title: "CPU",
    charts: [
      { id: "cpu-usage", family: "cpu", title: "CPU usage by mode", unit: "ratio", yMax: 1, pick: (s) => (s.name === "cpu_usage_ratio" ? "total" : s.name === "cpu_mode_ratio" && s.labels.mode !== "idle" ? s.labels.mode ?? "?" : null) },
      { id: "cpu-cores", family: "cpu", title: "CPU usage per core", unit: "ratio", yMax: 1, pick: (s) => (s.name === "cpu_core_usage_ratio" ? `cpu ${s.labels.cpu ?? "?"}` : null) },
      { id: "load", family: "cpu", title: "Load average", unit: "number", pick: (s) => ({ load1: "1 min", load5: "5 min", load15: "15 min" })[s.name] ?? null },
    ],
  },
  {
    title: "Memory",
    charts: [
      { id: "memory-used", family: "memory", title: "Memory and swap used", unit: "ratio", yMax: 1, pick: (s) => ({ memory_used_ratio: "memory", swap_used_ratio: "swap" })[s.name] ?? null },
      { id: "memory-bytes", family: "memory", title: "Memory", unit: "bytes", pick: (s) => ({ memory_total_bytes: "total", memory_available_bytes: "available", memory_cached_bytes: "cached", memory_buffers_bytes: "buffers" })[s.name] ?? null },
      { id: "swap-io", family: "memory", title: "Swap in and out", unit: "bytes/s", pick: (s) => ({ swap_in_bytes_per_second: "in", swap_out_bytes_per_second: "out" })[s.name] ?? null },
    ],
  },
  {
    title: "Disk",
    charts: [
      { id: "disk-bytes", family: "disk", title: "Disk throughput", unit: "bytes/s", pick: (s) => (s.name === "read_bytes_per_second" ? `${dev(s)} read` : s.name === "write_bytes_per_second" ? `${dev(s)} write` : null) },
      { id: "disk-ops", family: "disk", title: "Disk operations", unit: "per_s", pick: (s) => (s.name === "reads_per_second" ? `${dev(s)} reads` : s.name === "writes_per_second" ? `${dev(s)} writes` : null) },
      { id: "disk-busy", family: "disk", title: "Disk busy time", unit: "ratio", yMax: 1, pick: (s) => (s.name === "io_utilisation_ratio" ? dev(s) : null) },
      { id: "fs-used", family: "disk", title: "Filesystem used per mount", unit: "ratio", yMax: 1, pick: (s) => (s.name === "filesystem_used_ratio" ? s.labels.mountpoint ?? "?" : null) },
    ],
  },
  {
    title: "Network",
    charts: [
      { id: "net-bytes", family: "network", title: "Network throughput", unit: "bytes/s", pick: (s) => (s.name === "receive_bytes_per_second" ? `${dev(s)} in` : s.name === "transmit_bytes_per_second" ? `${dev(s)} out` : null) },
      { id: "net-errors", family: "network", title: "Network errors and drops", unit: "per_s", pick: (s) => { const m = s.name.match(/^(receive|transmit)_(errors|drops)_per_second$/); return m ? `${dev(s)} ${m[1] === "receive" ? "in" : "out"} ${m[2]}` : null; } },
      { id: "net-packets", family: "network", title: "Network packets", unit: "per_s", pick: (s) => (s.name === "receive_packets_per_second" ? `${dev(s)} in` : s.name === "transmit_packets_per_second" ? `${dev(s)} out` : null) },
    ],
  },
  {
    title: "Pressure",
    charts: [
      { id: "pressure-waiting", family: "pressure", title: "Time some task waited (PSI some)", unit: "ratio", yMax: 1, pick: named({ cpu_waiting_ratio: "cpu", memory_waiting_ratio: "memory", io_waiting_ratio: "io" }) },
      { id: "pressure-stalled", family: "pressure", title: "Time all tasks stalled (PSI full)", unit: "ratio", yMax: 1, pick: named({ memory_stalled_ratio: "memory", io_stalled_ratio: "io" }) },
    ],
  },
  {
    title: "System",
    charts: [
      { id: "system-events", family: "system", title: "Context switches, interrupts and forks", unit: "per_s", pick: named({ context_switches_per_second: "context switches", interrupts_per_second: "interrupts", forks_per_second: "forks" }) },
      { id: "system-tasks", family: "system", title: "Tasks running and blocked", unit: "number", pick: named({ procs_running: "running", procs_blocked: "blocked" }) },
      { id: "system-filefd", family: "system", title: "File handles used", unit: "ratio", pick: named({ filefd_used_ratio: "of fs.file-max" }) },
      { id: "system-tcp", family: "system", title: "TCP connections and retransmits", unit: "number", pick: named({ tcp_established: "established", tcp_retransmits_per_second: "retransmits/s" }) },
    ],
  },
  {
    title: "Temperatures",
    charts: [
      { id: "temperatures", family: "sensors", title: "Sensors and thermal zones", unit: "celsius", pick: (s) => (s.name === "temperature_celsius" ? `${s.labels.chip ?? "?"} ${s.labels.sensor ?? "?"}` : s.name === "thermal_zone_celsius" ? `zone ${s.labels.zone ?? "?"} ${s.labels.type ?? ""}`.trim() : null) },
    ],
  },
  {
    title: "Disks and GPUs",
    optional: true,
    charts: [
      { id: "disk-temperature", family: "devices", title: "Disk temperature (SMART)", unit: "celsius", pick: (s) => (s.name === "disk_temperature_celsius" ? dev(s) : null) },
      { id: "disk-endurance", family: "devices", title: "Disk endurance used (NVMe)", unit: "ratio", yMax: 1, pick: (s) => (s.name === "disk_endurance_used_ratio" ? dev(s) : null) },
      { id: "gpu-usage", family: "devices", title: "GPU utilisation and memory used", unit: "ratio", yMax: 1, pick: (s) => (s.name === "gpu_utilisation_ratio" ? `${gpu(s)} busy` : s.name === "gpu_memory_used_ratio" ? `${gpu(s)} memory` : null) },
      { id: "gpu-temperature", family: "devices", title: "GPU temperature", unit: "celsius", pick: (s) => (s.name === "gpu_temperature_celsius" ? gpu(s) : null) },
      { id: "gpu-power", family: "devices", title: "GPU power draw (watts)", unit: "number", pick: (s) => (s.name === "gpu_power_watts" ? gpu(s) : null) },
    ],
  },
];

interface FamilyData {
  answer: RangeAnswer;
  series: NamedSeries[];
}

function key(s: NamedSeries): string {
  return s.name + JSON.stringify(Object.entries(s.labels).sort());
}

/** Merge newer points into `old` (same step grid), keeping only points at or after `cutoff`. */
function merge(old: NamedSeries[], fresh: NamedSeries[], cutoff: number): NamedSeries[] {
  const out = new Map<string, NamedSeries>();
  for (const s of old) out.set(key(s), { ...s, points: s.points.filter((p) => p[0] >= cutoff) });
  for (const s of fresh) {
    const k = key(s);
    const prev = out.get(k);
    if (!prev) {
      out.set(k, s);
      continue;
    }
    const firstNew = s.points.length ? s.points[0][0] : Infinity;
    const kept: Point[] = prev.points.filter((p) => p[0] < firstNew);
    out.set(k, { ...s, points: kept.concat(s.points) });
  }
  return [...out.values()].filter((s) => s.points.length > 0);
}

export function hostPage(host: string): Page {
  return (main, info) => {
    const params = new URLSearchParams(window.location.search);
    let range: TimeRange = fromParams(params, "1h");
    let serverOffset = 0;
    let interval = 1;
    let step = 0;
    let fetching = false;
    let controller: AbortController | null = null;
    const data = new Map<Family, FamilyData>();
    const group = new ChartGroup("host");

    const title = h("h1", {}, h("span", { class: "muted", text: "Host " }), host);
    const status = h("span", { class: "badge", id: "host-status", text: "…" });
    const seen = h("span", { class: "muted", id: "host-seen" });
    const state = h("span", { class: "live-state", "data-state": "connecting", text: "connecting…" });
    const tiles = h("dl", { class: "tiles", id: "host-tiles" });
    const tier = h("span", { class: "tier", id: "tier", "data-tier": "", text: "tier –" });
    const stepInfo = h("span", { class: "muted", id: "step", "data-step": "" });
    const error = h("p", { class: "error-text", role: "alert" });
    const procBody = h("tbody", {});
    const procNote = h("p", { class: "muted" });
    const fsBody = h("tbody", {});
    const inventory = new InventoryStrip();
    const workloadTable = new WorkloadTable();

    const charts: { spec: ChartSpec; chart: TimeChart; section: number }[] = [];
    const onSelect = (start: number, end: number) => setRange({ kind: "absolute", start, end }, true);
    const sections = SECTIONS.map((section, index) => {
      const grid = h("div", { class: "charts" });
      for (const spec of section.charts) {
        const chart = new TimeChart(group, { title: spec.title, unit: spec.unit, yMax: spec.yMax, id: spec.id, onSelect });
        charts.push({ spec, chart, section: index });
        grid.appendChild(chart.el);
      }
      const id = `section-${section.title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
      const el = h("section", { "aria-labelledby": id }, h("h2", { id, text: section.title }), grid);
      el.hidden = Boolean(section.optional); // until a chart of it has lines
      return el;
    });
    const picker = rangePicker(range, (r) => setRange(r, false));

    clear(main);
    main.append(
      h("div", { class: "page-head" }, title, status, seen, state),
      inventory.el,
      tiles,
      h("div", { class: "toolbar sticky" }, picker.el, h("span", { class: "range-info" }, tier, stepInfo)),
      error,
      sections[0],
      h(
        "section",
        { "aria-labelledby": "section-processes" },
        h("h2", { id: "section-processes", text: "Top processes" }),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { id: "processes" },
            h("thead", {}, h("tr", {}, ...["PID", "Name", "User", "CPU", "Memory"].map((t) => h("th", { scope: "col", text: t })))),
            procBody,
          ),
        ),
        procNote,
      ),
      workloadTable.el,
      ...sections.slice(1),
      h(
        "section",
        { "aria-labelledby": "section-fs" },
        h("h2", { id: "section-fs", text: "Filesystems" }),
        h(
          "div",
          { class: "table-wrap" },
          h("table", { id: "filesystems" }, h("thead", {}, h("tr", {}, ...["Mount", "Used", "Size", "Available"].map((t) => h("th", { scope: "col", text: t })))), fsBody),
        ),
      ),
    );
    // The filesystem chart belongs with the disk section, the table after the network section.

    function setRange(r: TimeRange, fromChart: boolean): void {
      range = r;
      const p = new URLSearchParams(window.location.search);
      toParams(r, p);
      history.replaceState(null, "", `${window.location.pathname}?${p}`);
      if (fromChart) picker.show(r);
      void load(true);
    }

    /** The narrowest shown chart's plot width. A hidden chart (an optional section before it
     * has lines) measures as the 50 px floor, which made a range's first load ask for ten
     * times the step of the loads after it. */
    function plotWidth(): number {
      const shown = charts.filter(({ chart, section }) => !chart.el.hidden && !sections[section].hidden);
      return Math.min(...(shown.length ? shown : charts).map((c) => c.chart.plotWidth()));
    }

    function render(): void {
      const { start, end } = bounds(range, Date.now() / 1000 + serverOffset);
      const drawn = new Set<number>();
      for (const { spec, chart, section } of charts) {
        const fam = data.get(spec.family);
        const lines: Line[] = [];
        for (const s of fam?.series ?? []) {
          const label = spec.pick(s);
          if (label !== null) lines.push({ label, points: s.points });
        }
        lines.sort((a, b) => (a.label === "total" ? -1 : b.label === "total" ? 1 : a.label.localeCompare(b.label, undefined, { numeric: true })));
        if (SECTIONS[section].optional) chart.el.hidden = lines.length === 0;
        if (lines.length) drawn.add(section);
        chart.update(lines, start, end);
      }
      SECTIONS.forEach((section, index) => {
        if (section.optional) sections[index].hidden = !drawn.has(index);
      });
      const answers = [...data.values()].map((d) => d.answer);
      const names = [...new Set(answers.map((a) => tierName(a)))];
      tier.textContent = `tier ${names.join(", ") || "–"}`;
      tier.dataset.tier = names.join(",");
      // The server may raise the step to the answering tier's resolution.
      const shown = Math.max(step, ...answers.map((a) => a.step));
      stepInfo.textContent = shown ? `· step ${duration(shown)} · ${Math.round((end - start) / shown)} points per line` : "";
      stepInfo.dataset.step = String(shown);
      renderFilesystems();
    }

    function renderFilesystems(): void {
      const disk = data.get("disk")?.series ?? [];
      const latest = (name: string, mount: string) => {
        const s = disk.find((x) => x.name === name && x.labels.mountpoint === mount);
        return s && s.points.length ? s.points[s.points.length - 1][1] : null;
      };
      const mounts = [...new Set(disk.filter((s) => s.name === "filesystem_size_bytes").map((s) => s.labels.mountpoint ?? "?"))].sort();
      clear(fsBody);
      for (const m of mounts) {
        fsBody.appendChild(
          h("tr", {}, h("th", { scope: "row", text: m }), h("td", { text: percent(latest("filesystem_used_ratio", m)) }), h("td", { text: bytes(latest("filesystem_size_bytes", m)) }), h("td", { text: bytes(latest("filesystem_avail_bytes", m)) })),
        );
      }
      if (!mounts.length) fsBody.appendChild(h("tr", {}, h("td", { colspan: 4, class: "muted", text: "No filesystem data in this range." })));
    }

    /** Fetch the range: everything (`full`), or only the newest points of a live range. */
    async function load(full: boolean): Promise<void> {
      if (!full && (fetching || !isLive(range))) return;
      if (full) controller?.abort();
      const ctrl = new AbortController();
      controller = ctrl;
      fetching = true;
      const now = Date.now() / 1000 + serverOffset;
      const { start, end } = bounds(range, now);
      const newStep = stepFor(end - start, plotWidth(), interval);
      const incremental = !full && newStep === step && data.size === FAMILIES.length;
      step = newStep;
      const from = incremental ? Math.max(start, Math.min(...[...data.values()].map((d) => d.answer.end)) - 2 * step) : start;
      try {
        // A refresh asks for the newest points only, from the tier the range's full load
        // came from: left to choose by its short window, it would take raw points into
        // series of rollups, and the tier badge would change with every refresh.
        const tierOf = (f: Family) => (incremental && typeof data.get(f)?.answer.tier === "string" ? tierName(data.get(f)!.answer) : undefined);
        const answers = await Promise.all(FAMILIES.map((f) => familyRange(f, host, Math.floor(from), Math.ceil(end), step, ctrl.signal, tierOf(f))));
        if (ctrl.signal.aborted) return;
        FAMILIES.forEach((f, i) => {
          const answer = answers[i];
          const series = incremental ? merge(data.get(f)!.series, answer.series, start - step) : answer.series;
          data.set(f, { answer, series });
        });
        error.textContent = "";
        render();
        main.dataset.loaded = String(Number(main.dataset.loaded ?? "0") + 1);
      } catch (err) {
        if (!isAbort(err)) error.textContent = `Cannot load the charts: ${(err as Error).message}`;
      } finally {
        if (controller === ctrl) fetching = false;
      }
    }

    function tile(label: string, value: string, id: string): HTMLElement {
      return h("div", { class: "tile", "data-tile": id }, h("dt", { text: label }), h("dd", { text: value }));
    }

    /** The range's first load waits for the host's first event, which tells its sampling
     * interval (the floor of the step): started before it, a host sampling every 10 s had
     * its short ranges loaded twice, at a 1 s step and again at 10 s. */
    let started = false;
    function firstLoad(): void {
      if (started) return;
      started = true;
      void load(true);
    }

    let lastTimestamp = 0;
    function onRow(row: FleetRow | null, processes: ProcessRow[], workloads: Workload[]): void {
      workloadTable.update(workloads);
      if (!row) {
        status.className = "badge status-unknown";
        status.textContent = "not reporting";
        firstLoad();
        return;
      }
      interval = row.interval_s || 1;
      firstLoad();
      status.className = `badge status-${row.status}`;
      status.textContent = row.status;
      status.dataset.status = row.status;
      seen.dataset.lastSeen = String(row.last_seen);
      updateSeen();
      inventory.update(row.inventory, info.version, Date.now() / 1000 + serverOffset);
      const s = row.summary;
      const a = row.agent;
      clear(tiles);
      tiles.append(
        tile("CPU", percent(s.cpu_usage_ratio), "cpu"),
        tile("Memory", percent(s.memory_used_ratio), "memory"),
        tile("Swap", percent(s.swap_used_ratio), "swap"),
        tile("Load", `${number(s.load1)} · ${number(s.load5)} · ${number(s.load15)}`, "load"),
        tile("Fullest disk", percent(s.filesystem_max_used_ratio), "disk"),
        tile("Network in / out", `${byteRate(s.network_receive_bytes_per_second)} / ${byteRate(s.network_transmit_bytes_per_second)}`, "network"),
        tile("Disk read / write", `${byteRate(s.disk_read_bytes_per_second)} / ${byteRate(s.disk_written_bytes_per_second)}`, "diskio"),
        tile("Agent", `spool ${bytes(a.spool_bytes ?? 0)}, ${number(a.dropped_samples_total ?? 0)} dropped`, "agent"),
      );
      clear(procBody);
      for (const p of processes) {
        procBody.appendChild(
          h("tr", {}, h("td", { text: String(p.pid) }), h("th", { scope: "row", text: p.name }), h("td", { text: p.user }), h("td", { text: percent(p.cpu_usage_ratio) }), h("td", { text: bytes(p.resident_memory_bytes) })),
        );
      }
      procNote.textContent = processes.length ? `Updated ${new Date(row.timestamp * 1000).toLocaleTimeString(undefined, { hour12: false })}` : "No process data yet.";
      if (row.timestamp > lastTimestamp) {
        const first = lastTimestamp === 0;
        lastTimestamp = row.timestamp;
        if (!first) void load(false);
      }
    }

    function updateSeen(): void {
      const last = Number(seen.dataset.lastSeen);
      if (Number.isFinite(last) && last > 0) seen.textContent = `last seen ${duration(Date.now() / 1000 + serverOffset - last)} ago`;
    }

    /** The workload sparklines start from the last minutes of history, once. */
    async function loadWorkloadHistory(): Promise<void> {
      const end = Math.ceil(Date.now() / 1000 + serverOffset);
      const sparkStep = stepFor(WORKLOAD_SPARK_WINDOW_S, 90, 10);
      try {
        const answer = await familyRange("cgroups", host, end - WORKLOAD_SPARK_WINDOW_S, end, sparkStep);
        workloadTable.setHistory(answer.series.filter((s) => s.name === "cpu_cores" || s.name === "memory_bytes"));
      } catch (err) {
        if (!isAbort(err)) console.warn("no workload history", err);
      }
    }

    subscribe<{ host: string; row: FleetRow | null; processes: ProcessRow[]; workloads?: Workload[] }>(
      { host },
      "host",
      (message, receivedAt) => {
        serverOffset = message.now - receivedAt;
        onRow(message.data.row, message.data.processes, message.data.workloads ?? []);
      },
      (s) => showState(state, s),
    );
    window.setInterval(() => {
      updateSeen();
      inventory.tick(Date.now() / 1000 + serverOffset);
    }, 1000);
    void loadWorkloadHistory();
    const reflow = debounce(() => {
      if (step && stepFor(bounds(range).end - bounds(range).start, plotWidth(), interval) !== step) void load(true);
    }, 300);
    charts.forEach(({ chart }) => chart.onWidthChange(reflow));
    document.title = `${host} · hostvitals`;
    // Without a live event in time (the stream cannot connect), load at the default interval.
    window.setTimeout(firstLoad, FIRST_EVENT_WAIT_MS);
  };
}
