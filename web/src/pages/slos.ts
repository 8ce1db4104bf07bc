// SLOs: per objective the error budget left (gauge, as a share and as time), availability
// against the target, burn rates over 5m..3d with the burning ones highlighted, and the
// burn-down of the budget across the window.
import { isAbort, type Point } from "../api";
import { burnDown, slos, type SloDoc } from "../alertsapi";
import { ChartGroup, TimeChart, type Line } from "../chart";
import { h, clear } from "../dom";
import { dateTime, duration, number, percent } from "../format";
import { Gauge } from "../gauge";
import type { Page } from "../page";

const REFRESH_MS = 30_000;
const WINDOWS: [string, number][] = [
  ["5m", 300],
  ["30m", 1800],
  ["1h", 3600],
  ["6h", 21600],
  ["3d", 259200],
];
// The multi-window alerts (SRE workbook): share of the budget, long and short window.
const BURN_ALERTS: [number, number, number][] = [
  [0.02, 3600, 300],
  [0.05, 21600, 1800],
  [0.1, 259200, 21600],
];

/** The lowest burn rate at which an alert that uses this window would fire over it. */
export function alertRate(windowS: number, sloWindowS: number): number | null {
  const rates = BURN_ALERTS.filter(([, long, short]) => long === windowS || short === windowS).map(([share, long]) => (share * sloWindowS) / long);
  return rates.length ? Math.min(...rates) : null;
}

function precise(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "–";
  const digits = ratio > 0.999 && ratio < 1 ? 3 : 2;
  return percent(ratio, digits);
}

interface View {
  el: HTMLElement;
  gauge: Gauge;
  body: HTMLElement;
  chart: TimeChart;
}

export const slosPage: Page = (main) => {
  const group = new ChartGroup("slos");
  const views = new Map<string, View>();
  const error = h("p", { class: "error-text", role: "alert", id: "slos-error" });
  const list = h("div", { class: "slo-list" });
  const empty = h("p", { class: "empty", hidden: true }, "No SLOs are configured (", h("code", { text: "slos:" }), " in the configuration).");
  clear(main);
  main.append(h("div", { class: "page-head" }, h("h1", { text: "SLOs" })), error, empty, list);

  function view(doc: SloDoc): View {
    let v = views.get(doc.name);
    if (v) return v;
    const gauge = new Gauge(`Error budget left for ${doc.name}`);
    const body = h("div", { class: "slo-body" });
    const chart = new TimeChart(group, { title: "Error budget left across the window", unit: "ratio", height: 200, yMax: 1, id: `burndown-${doc.name}` });
    const el = h("article", { class: "slo", "data-slo": doc.name, "aria-labelledby": `slo-${doc.name}` }, h("div", { class: "slo-top" }, gauge.el, body), chart.el);
    list.appendChild(el);
    v = { el, gauge, body, chart };
    views.set(doc.name, v);
    return v;
  }

  function render(doc: SloDoc): void {
    const v = view(doc);
    const budget = doc.error_budget;
    const health = doc.healthy === null ? "unknown" : doc.healthy ? "healthy" : "unhealthy";
    // An SLO that cannot be evaluated never reads as burning, whatever the windows that answered.
    const unknown = health === "unknown";
    v.el.dataset.health = health;
    const left = budget?.remaining_ratio ?? null;
    v.gauge.set(
      left,
      left === null ? "no data" : precise(left),
      budget && budget.remaining_s !== null ? `${budget.remaining_s < 0 ? "overspent by " + duration(-budget.remaining_s) : duration(budget.remaining_s) + " left"} of ${duration(budget.total_s)}` : "budget left",
    );
    clear(v.body);
    const windowS = doc.window_s ?? 30 * 86400;
    const target = doc.target;
    const availability = doc.availability ?? null;
    const rates = doc.burn_rates ?? {};
    const rateRow = h("tr", {});
    const headRow = h("tr", {});
    for (const [name, seconds] of WINDOWS) {
      const rate = rates[name] ?? null;
      const threshold = alertRate(seconds, windowS);
      const burning = !unknown && rate !== null && threshold !== null && rate > threshold;
      const fast = !unknown && rate !== null && rate > 1;
      headRow.appendChild(h("th", { scope: "col", text: name }));
      rateRow.appendChild(
        h("td", {
          class: "num" + (burning ? " burning" : fast ? " warn" : ""),
          "data-window": name,
          "data-burning": String(burning),
          title: threshold === null ? "" : `${burning ? "burning: " : ""}alerts above ${number(threshold, 2)}`,
          text: rate === null ? "–" : number(rate, 2),
        }),
      );
    }
    const indicators = (doc.indicators ?? []).map((ind) =>
      h(
        "li",
        { "data-indicator": ind.name, class: ind.burning ? "burning" : "" },
        h("strong", { text: ind.name }),
        ` ${precise(ind.availability)}`,
        ind.burning ? ` · burning: ${ind.burning_alerts.map((a) => `${a.long_window}/${a.short_window} over ${number(a.burn_rate, 2)} (${a.action})`).join(", ")}` : "",
        ind.error ? h("span", { class: "error-text", text: ` · ${ind.error}` }) : "",
      ),
    );
    v.body.append(
      h("h2", { id: `slo-${doc.name}`, class: "slo-name" }, doc.name, " ", h("span", { class: `badge health-${health}`, text: health })),
      doc.description ? h("p", { class: "muted", text: doc.description }) : "",
      doc.error ? h("p", { class: "error-text slo-error", role: "status", text: `Cannot be evaluated: ${doc.error}` }) : "",
      h(
        "dl",
        { class: "tiles" },
        h("div", { class: "tile" }, h("dt", { text: "Availability" }), h("dd", { class: availability !== null && availability < target ? "warn" : "", "data-field": "availability", text: precise(availability) })),
        h("div", { class: "tile" }, h("dt", { text: "Target" }), h("dd", { text: `${precise(target)} over ${doc.window ?? duration(windowS)}` })),
        h("div", { class: "tile" }, h("dt", { text: "Budget spent" }), h("dd", { text: precise(budget?.consumed_ratio) })),
      ),
      h("div", { class: "table-wrap" }, h("table", { class: "burn-rates" }, h("caption", { class: "caption", text: "Burn rate (1 spends the budget exactly over the window)" }), h("thead", {}, headRow), h("tbody", {}, rateRow))),
      indicators.length ? h("ul", { class: "indicators" }, ...indicators) : "",
      h("p", { class: "muted small", text: doc.evaluated_at ? `Evaluated ${dateTime(doc.evaluated_at)}` : "Not evaluated yet." }),
    );
  }

  async function loadBurnDown(doc: SloDoc): Promise<void> {
    const v = view(doc);
    try {
      const bd = await burnDown(doc.name, v.chart.plotWidth());
      const lines: Line[] = [{ label: "SLO", points: bd.remaining as Point[] }];
      if (bd.indicators.length > 1) for (const ind of bd.indicators) lines.push({ label: ind.name, points: ind.remaining as Point[] });
      v.chart.update(lines, bd.start, bd.end);
      const failed = bd.indicators.filter((i) => i.error);
      if (failed.length) error.textContent = `Burn-down of ${doc.name}: ${failed.map((i) => `${i.name}: ${i.error}`).join("; ")}`;
    } catch (err) {
      if (!isAbort(err)) error.textContent = `Burn-down of ${doc.name} unavailable: ${(err as Error).message}`;
    }
  }

  async function refresh(): Promise<void> {
    try {
      const docs = await slos();
      error.textContent = "";
      empty.hidden = docs.length > 0;
      for (const doc of docs) render(doc);
      await Promise.all(docs.map(loadBurnDown));
      main.dataset.loaded = String(Number(main.dataset.loaded ?? 0) + 1);
    } catch (err) {
      error.textContent = `Cannot load the SLOs: ${(err as Error).message}`;
    }
  }

  document.title = "SLOs · hostvitals";
  void refresh();
  window.setInterval(() => {
    if (document.visibilityState === "visible") void refresh();
  }, REFRESH_MS);
};
