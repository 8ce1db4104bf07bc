// Time-series charts on uPlot: a synced crosshair with a tooltip, a keyboard-usable cursor,
// a legend of buttons that toggle series, theme-aware colours, and resize handling.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Point } from "./api";
import { h, clear } from "./dom";
import { byUnit, dateTime, type Unit } from "./format";

export interface Line {
  label: string;
  points: Point[];
}

export interface ChartOptions {
  title: string;
  unit: Unit;
  height?: number;
  /** Keep the y axis at least this high (e.g. 1 for ratios). */
  yMin?: number;
  yMax?: number;
  /** Most lines drawn; the rest are listed as left out. */
  maxLines?: number;
  /** Called with a range the user selected by dragging across the plot. */
  onSelect?: (start: number, end: number) => void;
  id?: string;
}

/** Charts that share a crosshair; the chart under the pointer (or focused) shows the tooltip. */
export class ChartGroup {
  readonly key: string;
  active: TimeChart | null = null;
  private readonly charts = new Set<TimeChart>();

  constructor(name: string) {
    this.key = `${name}-${Math.random().toString(36).slice(2)}`;
    document.addEventListener("themechange", () => this.charts.forEach((c) => c.rebuild()));
  }

  add(chart: TimeChart): void {
    this.charts.add(chart);
  }

  remove(chart: TimeChart): void {
    this.charts.delete(chart);
  }
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** A colour swatch; styled through the DOM, as the page's policy allows no inline styles. */
export function swatch(color: string): HTMLElement {
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  el.style.background = color;
  return el;
}

export function palette(): string[] {
  return Array.from({ length: 10 }, (_, i) => cssVar(`--s${i}`, "#888"));
}

/** Align lines on the union of their timestamps (uPlot's data layout). */
export function align(lines: Line[]): uPlot.AlignedData {
  const times = new Set<number>();
  for (const line of lines) for (const [t] of line.points) times.add(t);
  const xs = Float64Array.from(times).sort();
  const index = new Map<number, number>();
  xs.forEach((t, i) => index.set(t, i));
  const columns = lines.map((line) => {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    for (const [t, v] of line.points) ys[index.get(t)!] = v;
    return ys;
  });
  return [Array.from(xs), ...columns] as uPlot.AlignedData;
}

export class TimeChart {
  readonly el: HTMLElement;
  private readonly plotBox: HTMLElement;
  private readonly legendBox: HTMLElement;
  private readonly note: HTMLElement;
  private readonly tooltip: HTMLElement;
  private readonly format: (v: number | null | undefined) => string;
  private plot: uPlot | null = null;
  private lines: Line[] = [];
  private hidden = new Set<string>();
  private range = { start: 0, end: 1 };
  private labels: string[] = [];
  private readonly resize: ResizeObserver;
  private lastWidth = 0;
  private widthListeners: ((width: number) => void)[] = [];

  constructor(
    private readonly group: ChartGroup,
    private readonly opts: ChartOptions,
  ) {
    this.format = byUnit(opts.unit);
    this.plotBox = h("div", {
      class: "plot",
      tabindex: 0,
      role: "img",
      "aria-label": `${opts.title} chart. Arrow keys move the cursor, Escape hides it.`,
    });
    this.legendBox = h("div", { class: "legend", role: "group", "aria-label": `${opts.title} series` });
    this.note = h("p", { class: "chart-note", "aria-live": "polite" });
    this.tooltip = h("div", { class: "tooltip", hidden: true, role: "status" });
    this.el = h(
      "figure",
      { class: "chart", "data-chart": opts.id ?? opts.title },
      h("figcaption", { text: opts.title }),
      this.plotBox,
      this.note,
      this.legendBox,
    );
    this.plotBox.addEventListener("keydown", (e) => this.onKey(e));
    this.plotBox.addEventListener("focus", () => (this.group.active = this));
    this.plotBox.addEventListener("blur", () => this.hideCursor());
    this.plotBox.addEventListener("mouseenter", () => (this.group.active = this));
    this.plotBox.addEventListener("mouseleave", () => {
      if (this.group.active === this) this.group.active = null;
      this.tooltip.hidden = true;
    });
    this.resize = new ResizeObserver(() => this.onResize());
    this.resize.observe(this.plotBox);
    group.add(this);
  }

  /** Width of the plotting area in CSS pixels: the most points a line can usefully have. */
  plotWidth(): number {
    if (this.plot) return Math.max(50, Math.round(this.plot.bbox.width / devicePixelRatio));
    return Math.max(50, this.plotBox.clientWidth - 80);
  }

  onWidthChange(listener: (width: number) => void): void {
    this.widthListeners.push(listener);
  }

  /** Show these lines over [start, end] (Unix seconds). */
  update(lines: Line[], start: number, end: number): void {
    const max = this.opts.maxLines ?? 50;
    this.lines = lines.slice(0, max);
    this.range = { start, end };
    this.note.textContent =
      lines.length > max
        ? `Showing ${max} of ${lines.length} series.`
        : lines.length === 0
          ? "No data in this range."
          : "";
    const labels = this.lines.map((l) => l.label);
    const same = this.plot !== null && labels.length === this.labels.length && labels.every((l, i) => l === this.labels[i]);
    if (same && this.plot) {
      this.plot.setData(align(this.lines), false);
      this.plot.setScale("x", { min: start, max: end });
      this.renderLegend(null);
    } else {
      this.labels = labels;
      this.rebuild();
    }
    this.el.dataset.points = String(this.lines.reduce((n, l) => n + l.points.length, 0));
    this.el.dataset.lines = String(this.lines.length);
  }

  rebuild(): void {
    this.plot?.destroy();
    this.plot = null;
    clear(this.plotBox);
    const colors = palette();
    const text = cssVar("--fg-muted", "#666");
    const grid = cssVar("--grid", "#ddd");
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const width = Math.max(200, this.plotBox.clientWidth || 600);
    const yRange = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => {
      let lo = Math.min(min, this.opts.yMin ?? min);
      let hi = Math.max(max, this.opts.yMax ?? max);
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, this.opts.yMax ?? 1];
      if (lo === hi) {
        hi = lo === 0 ? 1 : hi * 1.1;
        lo = Math.min(0, lo);
      }
      return [Math.min(0, lo), hi * 1.05];
    };
    const opts: uPlot.Options = {
      width,
      height: this.opts.height ?? 180,
      legend: { show: false },
      cursor: {
        sync: { key: this.group.key, setSeries: false },
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      scales: {
        x: { time: true, range: () => [this.range.start, this.range.end] },
        y: { range: yRange },
      },
      axes: [
        { ...axis },
        { ...axis, size: 72, values: (_u, vals) => vals.map((v) => this.format(v)) },
      ],
      series: [
        {},
        ...this.lines.map((line, i) => ({
          label: line.label,
          stroke: colors[i % colors.length],
          width: 1.5,
          show: !this.hidden.has(line.label),
          spanGaps: false,
          points: { show: false },
        })),
      ],
      hooks: {
        setCursor: [(u) => this.onCursor(u)],
        setSelect: [(u) => this.onSelect(u)],
      },
    };
    this.plot = new uPlot(opts, align(this.lines), this.plotBox);
    this.plot.over.appendChild(this.tooltip);
    this.renderLegend(null);
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
    this.group.remove(this);
  }

  private onResize(): void {
    const width = this.plotBox.clientWidth;
    if (!width || width === this.lastWidth) return;
    this.lastWidth = width;
    this.plot?.setSize({ width, height: this.opts.height ?? 180 });
    const plotWidth = this.plotWidth();
    this.widthListeners.forEach((f) => f(plotWidth));
  }

  private onSelect(u: uPlot): void {
    if (u.select.width < 5 || !this.opts.onSelect) return;
    const start = u.posToVal(u.select.left, "x");
    const end = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.opts.onSelect(Math.floor(start), Math.ceil(end));
  }

  private onCursor(u: uPlot): void {
    const idx = u.cursor.idx;
    this.renderLegend(idx ?? null);
    if (idx === null || idx === undefined || this.group.active !== this) {
      this.tooltip.hidden = true;
      return;
    }
    const t = u.data[0][idx];
    const rows = this.lines
      .map((line, i) => ({ line, i, v: u.data[i + 1][idx] as number | null | undefined }))
      .filter((r) => !this.hidden.has(r.line.label) && r.v !== null && r.v !== undefined)
      .sort((a, b) => (b.v as number) - (a.v as number))
      .slice(0, 12);
    const colors = palette();
    clear(this.tooltip);
    this.tooltip.appendChild(h("div", { class: "tt-time", text: dateTime(t) }));
    for (const r of rows) {
      this.tooltip.appendChild(
        h(
          "div",
          { class: "tt-row" },
          swatch(colors[r.i % colors.length]),
          h("span", { class: "tt-label", text: r.line.label }),
          h("span", { class: "tt-value", text: this.format(r.v) }),
        ),
      );
    }
    if (rows.length === 0) this.tooltip.appendChild(h("div", { text: "no value" }));
    this.tooltip.hidden = false;
    const left = u.cursor.left ?? 0;
    const top = u.cursor.top ?? 0;
    const overWidth = u.over.clientWidth;
    const tipWidth = this.tooltip.offsetWidth;
    const x = left + 12 + tipWidth > overWidth ? Math.max(0, left - 12 - tipWidth) : left + 12;
    this.tooltip.style.left = `${x}px`;
    this.tooltip.style.top = `${Math.max(0, Math.min(top, u.over.clientHeight - this.tooltip.offsetHeight))}px`;
  }

  private renderLegend(idx: number | null): void {
    const colors = palette();
    clear(this.legendBox);
    this.lines.forEach((line, i) => {
      const values = this.plot?.data[i + 1];
      let v: number | null | undefined = null;
      if (values) {
        if (idx !== null) v = values[idx] as number | null;
        else for (let j = values.length - 1; j >= 0 && (v === null || v === undefined); j--) v = values[j] as number | null;
      }
      const shown = !this.hidden.has(line.label);
      const button = h(
        "button",
        { type: "button", class: "legend-item", "aria-pressed": String(shown), title: shown ? "Hide this series" : "Show this series" },
        swatch(colors[i % colors.length]),
        h("span", { class: "legend-label", text: line.label }),
        h("span", { class: "legend-value", text: this.format(v) }),
      );
      button.addEventListener("click", () => this.toggle(line.label, i));
      this.legendBox.appendChild(button);
    });
  }

  private toggle(label: string, i: number): void {
    const shown = this.hidden.has(label);
    if (shown) this.hidden.delete(label);
    else this.hidden.add(label);
    this.plot?.setSeries(i + 1, { show: shown });
    this.renderLegend(this.plot?.cursor.idx ?? null);
    (this.legendBox.children[i] as HTMLElement | undefined)?.focus();
  }

  private hideCursor(): void {
    this.tooltip.hidden = true;
    if (this.group.active === this) this.group.active = null;
    this.plot?.setCursor({ left: -10, top: -10 });
  }

  private onKey(e: KeyboardEvent): void {
    const u = this.plot;
    if (!u || u.data[0].length === 0) return;
    const last = u.data[0].length - 1;
    let idx = u.cursor.idx ?? last;
    const jump = e.shiftKey ? 10 : 1;
    if (e.key === "ArrowLeft") idx = Math.max(0, idx - jump);
    else if (e.key === "ArrowRight") idx = Math.min(last, idx + jump);
    else if (e.key === "Home") idx = 0;
    else if (e.key === "End") idx = last;
    else if (e.key === "Escape") {
      this.hideCursor();
      return;
    } else return;
    e.preventDefault();
    this.group.active = this;
    const left = u.valToPos(u.data[0][idx], "x");
    u.setCursor({ left, top: u.over.clientHeight / 2 });
  }
}
