// The host page's services and containers: one row per workload the agent reports (its top by
// CPU and by memory, and "other", the rest added up), sortable, with CPU and memory
// sparklines. Fed by the host's live stream; the sparklines start from the last 15 minutes of
// history (the `cgroups` family) and then follow the stream.
import type { NamedSeries, Point, Workload } from "../api";
import { h, clear } from "../dom";
import { byteRate, bytes, number, percent } from "../format";
import { Sparkline } from "../sparkline";

export const WORKLOAD_SPARK_WINDOW_S = 900;
const SPARK_WIDTH = 90;

type Key = "name" | "cpu" | "memory" | "working" | "read" | "write" | "pcpu" | "pmemory" | "pio";

interface Column {
  key: Key;
  label: string;
  title?: string;
  value: (w: Workload) => number | string | null;
  text: (w: Workload) => string;
}

const COLUMNS: Column[] = [
  { key: "name", label: "Name", value: (w) => w.name, text: (w) => w.name },
  { key: "cpu", label: "CPU", title: "CPU time per second, in cores", value: (w) => w.cpu_cores, text: (w) => (w.cpu_cores === null ? "–" : `${number(w.cpu_cores)} cores`) },
  { key: "memory", label: "Memory", value: (w) => w.memory_bytes, text: (w) => bytes(w.memory_bytes) },
  { key: "working", label: "Working set", value: (w) => w.working_set_bytes, text: (w) => bytes(w.working_set_bytes) },
  { key: "read", label: "Read", value: (w) => w.read_bytes_per_second, text: (w) => byteRate(w.read_bytes_per_second) },
  { key: "write", label: "Write", value: (w) => w.write_bytes_per_second, text: (w) => byteRate(w.write_bytes_per_second) },
  { key: "pcpu", label: "CPU wait", title: "Share of time some of its tasks waited for a CPU (PSI some)", value: (w) => w.cpu_waiting_ratio, text: (w) => percent(w.cpu_waiting_ratio) },
  { key: "pmemory", label: "Memory wait", title: "Share of time some of its tasks waited for memory", value: (w) => w.memory_waiting_ratio, text: (w) => percent(w.memory_waiting_ratio) },
  { key: "pio", label: "I/O wait", title: "Share of time some of its tasks waited for I/O", value: (w) => w.io_waiting_ratio, text: (w) => percent(w.io_waiting_ratio) },
];

const SPARKS: { key: Key; history: string; color: string; value: (w: Workload) => number | null }[] = [
  { key: "cpu", history: "cpu_cores", color: "--s0", value: (w) => w.cpu_cores },
  { key: "memory", history: "memory_bytes", color: "--s1", value: (w) => w.memory_bytes },
];

interface Row {
  w: Workload;
  tr: HTMLTableRowElement;
  cells: Record<string, HTMLElement>;
  sparks: Record<string, Sparkline>;
}

export function workloadId(w: { kind?: string; runtime?: string; name?: string }): string {
  return `${w.kind ?? ""}/${w.runtime ?? ""}/${w.name ?? ""}`;
}

export class WorkloadTable {
  readonly el: HTMLElement;
  private readonly body = h("tbody", {});
  private readonly head = h("tr", {});
  private readonly note = h("p", { class: "muted", id: "workloads-note" });
  private readonly rows = new Map<string, Row>();
  private history = new Map<string, Map<string, Point[]>>();
  private sortKey: Key = "cpu";
  private descending = true;

  constructor() {
    for (const col of COLUMNS) {
      const button = h("button", { type: "button", class: "sort", "data-sort": col.key, text: col.label, title: col.title });
      button.addEventListener("click", () => {
        if (this.sortKey === col.key) this.descending = !this.descending;
        else {
          this.sortKey = col.key;
          this.descending = col.key !== "name";
        }
        this.arrange();
      });
      this.head.appendChild(h("th", { scope: "col", "data-col": col.key }, button));
    }
    this.el = h(
      "section",
      { "aria-labelledby": "section-workloads" },
      h("h2", { id: "section-workloads", text: "Services and containers" }),
      h("div", { class: "table-wrap" }, h("table", { id: "workloads", class: "workloads" }, h("thead", {}, this.head), this.body)),
      this.note,
    );
    this.arrange();
  }

  /** Sparkline history from the `cgroups` family (series named `cpu_cores`, `memory_bytes`). */
  setHistory(series: NamedSeries[]): void {
    this.history = new Map();
    for (const s of series) {
      const id = workloadId(s.labels);
      const byName = this.history.get(id) ?? new Map<string, Point[]>();
      byName.set(s.name, s.points);
      this.history.set(id, byName);
    }
    for (const [id, r] of this.rows) this.seed(id, r);
  }

  update(workloads: Workload[]): void {
    const seen = new Set<string>();
    for (const w of workloads) {
      const id = workloadId(w);
      seen.add(id);
      let r = this.rows.get(id);
      if (!r) {
        r = this.make(w);
        this.rows.set(id, r);
        this.seed(id, r);
      }
      r.w = w;
      for (const col of COLUMNS.slice(1)) r.cells[col.key].textContent = col.text(w);
      for (const spark of SPARKS) {
        const v = spark.value(w);
        if (v !== null) r.sparks[spark.key].push([w.timestamp, v], WORKLOAD_SPARK_WINDOW_S);
      }
    }
    for (const [id, r] of this.rows) {
      if (!seen.has(id)) {
        r.tr.remove();
        this.rows.delete(id);
      }
    }
    this.arrange();
  }

  private seed(id: string, r: Row): void {
    const found = this.history.get(id);
    if (!found) return;
    for (const spark of SPARKS) {
      const points = found.get(spark.history);
      if (points) r.sparks[spark.key].set(points.filter((p) => p[0] < r.w.timestamp).concat(spark.value(r.w) === null ? [] : [[r.w.timestamp, spark.value(r.w)!]]));
    }
  }

  private make(w: Workload): Row {
    const cells: Record<string, HTMLElement> = {};
    const sparks: Record<string, Sparkline> = {};
    const tr = h("tr", { "data-workload": workloadId(w), "data-kind": w.kind });
    const kind = w.kind === "other" ? "the rest, added up" : w.runtime && w.runtime !== "systemd" ? `${w.kind} · ${w.runtime}` : w.kind;
    tr.appendChild(h("th", { scope: "row" }, h("span", { class: "value", text: w.name }), h("span", { class: "muted kind", text: ` ${kind}` }), w.image ? h("span", { class: "muted image", text: ` ${w.image}` }) : null));
    for (const col of COLUMNS.slice(1)) {
      const value = h("span", { class: "value" });
      cells[col.key] = value;
      const td = h("td", { "data-col": col.key }, value);
      const spark = SPARKS.find((s) => s.key === col.key);
      if (spark) {
        sparks[col.key] = new Sparkline(spark.color, null, SPARK_WIDTH);
        td.appendChild(sparks[col.key].el);
      }
      tr.appendChild(td);
    }
    return { w, tr, cells, sparks };
  }

  private arrange(): void {
    for (const th of this.head.children) {
      const key = (th as HTMLElement).dataset.col;
      th.setAttribute("aria-sort", key === this.sortKey ? (this.descending ? "descending" : "ascending") : "none");
    }
    const col = COLUMNS.find((c) => c.key === this.sortKey)!;
    const ordered = [...this.rows.values()].sort((a, b) => {
      // "other" stays last: it is everything not listed, not one workload.
      const other = Number(a.w.kind === "other") - Number(b.w.kind === "other");
      if (other) return other;
      const x = col.value(a.w);
      const y = col.value(b.w);
      let c: number;
      if (typeof x === "string" || typeof y === "string") c = String(x ?? "").localeCompare(String(y ?? ""));
      else c = (x ?? -1) - (y ?? -1);
      return (this.descending ? -c : c) || a.w.name.localeCompare(b.w.name);
    });
    clear(this.body);
    for (const r of ordered) this.body.appendChild(r.tr);
    if (!this.rows.size) this.body.appendChild(h("tr", {}, h("td", { colspan: COLUMNS.length, class: "muted", text: "No services or containers reported: the agent's cgroups sampler needs a cgroup v2 tree." })));
    this.note.textContent = this.rows.size ? `${this.rows.size} shown; sparklines cover the last 15 minutes.` : "";
  }
}
