// Explore: a PromQL/MetricsQL expression over a range, drawn as a chart (legend toggles
// series) with a table of the values at the end of the range. The URL holds the query and the
// range, so a view can be shared as a link.
import { getJson, isAbort, type Point, type PromMatrix, type PromVector } from "../api";
import { ChartGroup, TimeChart, type Line } from "../chart";
import { h, clear } from "../dom";
import { dateTime, duration, number } from "../format";
import { bounds, fromParams, rangePicker, stepFor, toParams, type TimeRange } from "../timerange";
import type { Page } from "../page";

const MAX_LINES = 50;
const MAX_ROWS = 500;

export function seriesName(metric: Record<string, string>): string {
  const { __name__: name, ...labels } = metric;
  const pairs = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`);
  return `${name ?? ""}{${pairs.join(", ")}}`;
}

export const explorePage: Page = (main) => {
  const params = new URLSearchParams(window.location.search);
  let range: TimeRange = fromParams(params, "1h");
  let controller: AbortController | null = null;
  const group = new ChartGroup("explore");

  const input = h("input", {
    type: "text",
    id: "expr",
    name: "q",
    list: "metric-names",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: 'e.g. rate(node_network_receive_bytes_total{host="web-1"}[1m])',
    value: params.get("q") ?? "",
  });
  const names = h("datalist", { id: "metric-names" });
  const run = h("button", { type: "submit", class: "primary", text: "Run" });
  const copy = h("button", { type: "button", id: "copy-link", text: "Copy link" });
  const status = h("p", { class: "muted", id: "explore-status", "aria-live": "polite" });
  const error = h("p", { class: "error-text", role: "alert", id: "explore-error" });
  const chart = new TimeChart(group, {
    title: "Result",
    unit: "number",
    height: 300,
    maxLines: MAX_LINES,
    id: "explore",
    onSelect: (start, end) => {
      range = { kind: "absolute", start, end };
      picker.show(range);
      void execute();
    },
  });
  const tableBody = h("tbody", {});
  const table = h("table", { id: "explore-table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Series" }), h("th", { scope: "col", text: "Value" }))), tableBody);
  const picker = rangePicker(range, (r) => {
    range = r;
    void execute();
  });
  const form = h(
    "form",
    { class: "explore-form", role: "search" },
    h("label", { for: "expr" }, "Expression (PromQL / MetricsQL)"),
    h("div", { class: "expr-row" }, input, run, copy),
    names,
  );

  clear(main);
  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Explore" })),
    form,
    h("div", { class: "toolbar" }, picker.el),
    error,
    status,
    chart.el,
    h("h2", { text: "Values at the end of the range" }),
    h("div", { class: "table-wrap" }, table),
  );

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void execute();
  });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(window.location.href);
      copy.textContent = "Link copied";
    } catch {
      copy.textContent = "Copy the address bar";
    }
    window.setTimeout(() => (copy.textContent = "Copy link"), 2000);
  });

  getJson<string[]>("/api/v1/label/__name__/values")
    .then((values) => values.slice(0, 2000).forEach((v) => names.appendChild(h("option", { value: v }))))
    .catch(() => undefined); // suggestions are optional

  async function execute(): Promise<void> {
    const query = input.value.trim();
    const p = new URLSearchParams();
    if (query) p.set("q", query);
    toParams(range, p);
    history.replaceState(null, "", `/explore?${p}`);
    if (!query) {
      status.textContent = "Enter an expression and press Run.";
      return;
    }
    controller?.abort();
    const ctrl = new AbortController();
    controller = ctrl;
    const { start, end } = bounds(range);
    const step = stepFor(end - start, chart.plotWidth());
    status.textContent = "Running…";
    error.textContent = "";
    const started = performance.now();
    try {
      const [matrix, instant] = await Promise.all([
        getJson<PromMatrix>("/api/v1/query_range", { query, start, end, step }, ctrl.signal),
        getJson<PromVector>("/api/v1/query", { query, time: end }, ctrl.signal),
      ]);
      if (ctrl.signal.aborted) return;
      const lines: Line[] = (matrix.result ?? []).map((r) => ({
        label: seriesName(r.metric),
        points: r.values.map(([t, v]) => [Number(t), Number(v)] as Point).filter((p) => Number.isFinite(p[1])),
      }));
      chart.update(lines, start, end);
      renderTable(instant);
      const ms = Math.round(performance.now() - started);
      status.textContent = `${lines.length} series · step ${duration(step)} · ${ms} ms`;
      status.dataset.series = String(lines.length);
      status.dataset.step = String(step);
    } catch (err) {
      if (isAbort(err)) return;
      error.textContent = (err as Error).message;
      status.textContent = "";
    }
  }

  function renderTable(answer: PromVector): void {
    clear(tableBody);
    const rows: [string, string][] = [];
    if (answer.resultType === "vector") {
      for (const r of answer.result as { metric: Record<string, string>; value: [number, string] }[]) {
        rows.push([seriesName(r.metric), number(Number(r.value[1]), 4)]);
      }
    } else if (answer.resultType === "scalar" || answer.resultType === "string") {
      const [t, v] = answer.result as [number, string];
      rows.push([`${answer.resultType} at ${dateTime(t)}`, answer.resultType === "scalar" ? number(Number(v), 4) : v]);
    }
    rows.sort((a, b) => a[0].localeCompare(b[0]));
    for (const [name, value] of rows.slice(0, MAX_ROWS)) {
      tableBody.appendChild(h("tr", {}, h("td", { class: "mono", text: name }), h("td", { class: "num", text: value })));
    }
    if (rows.length === 0) tableBody.appendChild(h("tr", {}, h("td", { colspan: 2, class: "muted", text: "No series at the end of the range." })));
    if (rows.length > MAX_ROWS) tableBody.appendChild(h("tr", {}, h("td", { colspan: 2, class: "muted", text: `${rows.length - MAX_ROWS} more not shown.` })));
  }

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void execute();
    }
  });
  document.title = "Explore · hostvitals";
  if (input.value.trim()) void execute();
  else {
    status.textContent = "Enter an expression and press Run.";
    input.focus();
  }
};
