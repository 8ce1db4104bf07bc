// Fleet: every host with status, headline numbers with sparklines, the disk forecast ("full in
// ..."), uptime, agent version (marked when older than the collector) and agent health;
// sortable, filterable, and kept current by the live stream (no reload).
import { getJson, type FleetRow, type NamedSeries, type Point, type RangeAnswer, type Status } from "../api";
import { h, clear, debounce } from "../dom";
import { byteRate, bytes, duration, number, percent } from "../format";
import { agentVersion, uptime } from "../inventory";
import { showState, subscribe } from "../live";
import { Sparkline } from "../sparkline";
import { stepFor } from "../timerange";
import type { Page } from "../page";

const SPARK_WINDOW_S = 900;
const SPARK_WIDTH = 110;
const HISTORY_REFRESH_MS = 60_000;

type SortKey = "host" | "status" | "cpu" | "memory" | "disk" | "network" | "uptime" | "version" | "agent" | "seen";

interface Column {
  key: SortKey;
  label: string;
  value: (r: FleetRow) => number | string;
}

const STATUS_ORDER: Record<Status, number> = { down: 0, stale: 1, up: 2 };

function network(r: FleetRow): number | null {
  const rx = r.summary.network_receive_bytes_per_second;
  const tx = r.summary.network_transmit_bytes_per_second;
  return rx === null && tx === null ? null : (rx ?? 0) + (tx ?? 0);
}

const COLUMNS: Column[] = [
  { key: "host", label: "Host", value: (r) => r.host },
  { key: "status", label: "Status", value: (r) => STATUS_ORDER[r.status] },
  { key: "cpu", label: "CPU", value: (r) => r.summary.cpu_usage_ratio ?? -1 },
  { key: "memory", label: "Memory", value: (r) => r.summary.memory_used_ratio ?? -1 },
  { key: "disk", label: "Fullest disk", value: (r) => r.summary.filesystem_max_used_ratio ?? -1 },
  { key: "network", label: "Network", value: (r) => network(r) ?? -1 },
  // Longest up first when descending; unknown boot times last.
  { key: "uptime", label: "Up", value: (r) => (r.inventory?.boot_time ? -r.inventory.boot_time : -1e12) },
  { key: "version", label: "Agent version", value: (r) => r.inventory?.agent_version ?? "" },
  { key: "agent", label: "Agent", value: (r) => (r.agent.spool_bytes ?? 0) + (r.agent.dropped_samples_total ?? 0) },
  { key: "seen", label: "Last seen", value: (r) => r.last_seen },
];

const SPARKS = [
  { key: "cpu", metric: "cpu_usage_ratio", color: "--s0", yMax: 1 },
  { key: "memory", metric: "memory_used_ratio", color: "--s1", yMax: 1 },
  { key: "disk", metric: "filesystem_max_used_ratio", color: "--s2", yMax: 1 },
  { key: "network", metric: "network_bytes_per_second", color: "--s3", yMax: null },
] as const;

interface HostRow {
  row: FleetRow;
  tr: HTMLTableRowElement;
  cells: Record<string, HTMLElement>;
  sparks: Record<string, Sparkline>;
  forecast: HTMLElement;
}

export const fleetPage: Page = (main, info) => {
  const params = new URLSearchParams(window.location.search);
  let sortKey: SortKey = (COLUMNS.find((c) => c.key === params.get("sort"))?.key ?? "status") as SortKey;
  let descending = params.get("order") === "desc";
  let filterText = params.get("q") ?? "";
  let statusFilter = params.get("status") ?? "";
  let serverOffset = 0; // server clock minus ours, from the stream
  const rows = new Map<string, HostRow>();

  const state = h("span", { class: "live-state", "data-state": "connecting", text: "connecting…" });
  const counts = h("p", { class: "counts", "aria-live": "polite" });
  const filter = h("input", { type: "search", id: "fleet-filter", placeholder: "host name", value: filterText });
  const statusSelect = h(
    "select",
    { id: "fleet-status" },
    ...["", "up", "stale", "down"].map((s) => h("option", { value: s, text: s || "any" })),
  );
  statusSelect.value = statusFilter;
  const error = h("p", { class: "error-text", role: "alert" });
  const empty = h("p", { class: "empty", hidden: true }, "No host has reported yet. Start an agent with ", h("code", { text: "hostvitals-agent --collector-url " + window.location.origin }), ".");
  const headRow = h("tr", {});
  const tbody = h("tbody", {});
  const table = h("table", { class: "fleet", id: "fleet-table" }, h("caption", { class: "visually-hidden", text: "Hosts" }), h("thead", {}, headRow), tbody);

  clear(main);
  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Fleet" }), state),
    h(
      "div",
      { class: "toolbar" },
      h("label", { for: "fleet-filter" }, "Filter "),
      filter,
      h("label", { for: "fleet-status" }, "Status "),
      statusSelect,
      counts,
    ),
    error,
    empty,
    h("div", { class: "table-wrap" }, table),
  );

  const saveUrl = () => {
    const p = new URLSearchParams();
    if (filterText) p.set("q", filterText);
    if (statusFilter) p.set("status", statusFilter);
    if (sortKey !== "status") p.set("sort", sortKey);
    if (descending) p.set("order", "desc");
    const query = p.toString();
    history.replaceState(null, "", query ? `/?${query}` : "/");
  };

  for (const col of COLUMNS) {
    const button = h("button", { type: "button", class: "sort", "data-sort": col.key, text: col.label });
    button.addEventListener("click", () => {
      if (sortKey === col.key) descending = !descending;
      else {
        sortKey = col.key;
        descending = col.key !== "host" && col.key !== "status";
      }
      saveUrl();
      arrange();
    });
    headRow.appendChild(h("th", { scope: "col", "data-col": col.key }, button));
  }

  filter.addEventListener("input", debounce(() => {
    filterText = filter.value.trim();
    saveUrl();
    arrange();
  }, 150));
  statusSelect.addEventListener("change", () => {
    statusFilter = statusSelect.value;
    saveUrl();
    arrange();
  });

  function arrange(): void {
    for (const th of headRow.children) {
      const key = (th as HTMLElement).dataset.col;
      th.setAttribute("aria-sort", key === sortKey ? (descending ? "descending" : "ascending") : "none");
    }
    const col = COLUMNS.find((c) => c.key === sortKey)!;
    const ordered = [...rows.values()].sort((a, b) => {
      const x = col.value(a.row);
      const y = col.value(b.row);
      const c = typeof x === "string" || typeof y === "string" ? String(x).localeCompare(String(y)) : x - y;
      return (descending ? -c : c) || a.row.host.localeCompare(b.row.host);
    });
    const needle = filterText.toLowerCase();
    let shown = 0;
    const tally: Record<Status, number> = { up: 0, stale: 0, down: 0 };
    for (const r of ordered) {
      tally[r.row.status] += 1;
      const visible = (!needle || r.row.host.toLowerCase().includes(needle)) && (!statusFilter || r.row.status === statusFilter);
      r.tr.hidden = !visible;
      if (visible) shown += 1;
      tbody.appendChild(r.tr);
    }
    counts.textContent = `${rows.size} hosts: ${tally.up} up, ${tally.stale} stale, ${tally.down} down` + (shown < rows.size ? ` (${shown} shown)` : "");
    empty.hidden = rows.size > 0;
  }

  function makeRow(row: FleetRow): HostRow {
    const cells: Record<string, HTMLElement> = {};
    const sparks: Record<string, Sparkline> = {};
    const tr = h("tr", { "data-host": row.host });
    const link = h("a", { href: `/hosts/${encodeURIComponent(row.host)}`, text: row.host });
    tr.appendChild(h("th", { scope: "row" }, link));
    for (const col of COLUMNS.slice(1)) {
      const value = h("span", { class: "value" });
      cells[col.key] = value;
      const td = h("td", { "data-col": col.key }, value);
      const spark = SPARKS.find((s) => s.key === col.key);
      if (spark) {
        sparks[col.key] = new Sparkline(spark.color, spark.yMax, SPARK_WIDTH);
        td.appendChild(sparks[col.key].el);
      }
      tr.appendChild(td);
    }
    const forecast = h("span", { class: "forecast", hidden: true });
    cells.disk.parentElement!.appendChild(forecast);
    return { row, tr, cells, sparks, forecast };
  }

  function fill(r: HostRow): void {
    const { row, cells } = r;
    r.tr.dataset.status = row.status;
    cells.status.className = `value badge status-${row.status}`;
    cells.status.textContent = row.status;
    cells.cpu.textContent = percent(row.summary.cpu_usage_ratio);
    cells.memory.textContent = percent(row.summary.memory_used_ratio);
    cells.disk.textContent = percent(row.summary.filesystem_max_used_ratio);
    const forecast = row.forecast ?? null;
    r.forecast.hidden = forecast === null;
    r.forecast.textContent = forecast ? `${forecast.mountpoint} full in ${duration(forecast.full_in_s)}` : "";
    r.forecast.title = forecast ? `at the pace of the last 6 hours ${forecast.mountpoint} (${forecast.device}) is full in ${duration(forecast.full_in_s)}` : "";
    const version = agentVersion(row.inventory, info.version);
    cells.version.textContent = version.outdated ? `${version.text} (outdated)` : version.text;
    cells.version.title = version.title;
    cells.version.className = "value" + (version.outdated ? " outdated" : "");
    r.tr.dataset.outdated = String(version.outdated);
    cells.network.textContent = byteRate(network(row));
    const a = row.agent;
    const parts = [];
    parts.push(a.spool_bytes ? `spool ${bytes(a.spool_bytes)}` : "spool empty");
    if (a.dropped_samples_total) parts.push(`${number(a.dropped_samples_total)} dropped`);
    if (a.send_errors_total) parts.push(`${number(a.send_errors_total)} send errors`);
    cells.agent.textContent = parts.join(", ");
    cells.agent.className = "value" + (a.dropped_samples_per_second || a.spool_bytes ? " warn" : "");
    ageText(r);
  }

  function ageText(r: HostRow): void {
    const now = Date.now() / 1000 + serverOffset;
    r.cells.seen.textContent = `${duration(now - r.row.last_seen)} ago`;
    r.cells.uptime.textContent = uptime(r.row.inventory, now);
  }

  /** `hosts` as the whole fleet (`removed` null: every other host is gone), or as the rows
   * that changed with the hosts that left (a `fleet-delta` event). */
  function applyRows(hosts: FleetRow[], removed: string[] | null = null): void {
    const seen = new Set<string>();
    for (const row of hosts) {
      seen.add(row.host);
      let r = rows.get(row.host);
      if (!r) {
        r = makeRow(row);
        rows.set(row.host, r);
      }
      r.row = row;
      fill(r);
      const t = row.timestamp;
      const v: Record<string, number | null> = {
        cpu: row.summary.cpu_usage_ratio,
        memory: row.summary.memory_used_ratio,
        disk: row.summary.filesystem_max_used_ratio,
        network: network(row),
      };
      for (const [key, spark] of Object.entries(r.sparks)) {
        const value = v[key];
        if (value !== null && value !== undefined) spark.push([t, value], SPARK_WINDOW_S);
      }
    }
    for (const [host, r] of rows) {
      if (removed === null ? !seen.has(host) : removed.includes(host)) {
        r.tr.remove();
        rows.delete(host);
      }
    }
    arrange();
  }

  async function loadHistory(): Promise<void> {
    const end = Math.floor(Date.now() / 1000 + serverOffset);
    const step = stepFor(SPARK_WINDOW_S, SPARK_WIDTH);
    try {
      const answer = await getJson<RangeAnswer>("/api/v1/fleet/history", { start: end - SPARK_WINDOW_S, end, step });
      const byHost = new Map<string, NamedSeries[]>();
      for (const s of answer.series) {
        const host = s.labels.host ?? "";
        byHost.set(host, [...(byHost.get(host) ?? []), s]);
      }
      for (const [host, r] of rows) {
        for (const spark of SPARKS) {
          const found = byHost.get(host)?.find((s) => s.name === spark.metric);
          const points: Point[] = found ? found.points : [];
          r.sparks[spark.key].set(points);
        }
      }
      error.textContent = "";
    } catch (err) {
      error.textContent = `Sparklines unavailable: ${(err as Error).message}`;
    }
  }

  getJson<{ now: number; hosts: FleetRow[] }>("/api/v1/fleet")
    .then((data) => {
      serverOffset = data.now - Date.now() / 1000;
      applyRows(data.hosts);
      return loadHistory();
    })
    .catch((err: Error) => (error.textContent = `Cannot load the fleet: ${err.message}`));

  subscribe<{ hosts: FleetRow[] }>(
    {},
    "fleet",
    (message, receivedAt) => {
      serverOffset = message.now - receivedAt;
      const before = rows.size;
      applyRows(message.data.hosts);
      if (rows.size > before) void loadHistory();
    },
    (s) => showState(state, s),
    {
      // After the first event, only the rows that changed and the hosts that left.
      "fleet-delta": (message, receivedAt) => {
        const delta = message.data as { changed: FleetRow[]; removed: string[] };
        serverOffset = message.now - receivedAt;
        const before = rows.size;
        applyRows(delta.changed, delta.removed);
        if (rows.size > before) void loadHistory();
      },
    },
  );
  window.setInterval(() => rows.forEach(ageText), 1000);
  window.setInterval(() => void loadHistory(), HISTORY_REFRESH_MS);
  arrange();
};
