// Small charts for table cells: one line, no axes, no cursor (uPlot).
import uPlot from "uplot";
import type { Point } from "./api";
import { h } from "./dom";

export class Sparkline {
  readonly el: HTMLElement;
  private plot: uPlot | null = null;
  private points: Point[] = [];

  constructor(
    private readonly colorVar: string,
    private readonly yMax: number | null = null,
    private readonly width = 110,
    private readonly height = 26,
  ) {
    this.el = h("span", { class: "spark", "aria-hidden": "true" });
    document.addEventListener("themechange", () => this.build());
  }

  set(points: Point[]): void {
    this.points = points;
    if (!this.plot) this.build();
    else this.plot.setData(this.data());
  }

  /** Add a live point and drop points older than `windowS` before it. */
  push(point: Point, windowS: number): void {
    const last = this.points[this.points.length - 1];
    if (last && point[0] <= last[0]) return;
    const cutoff = point[0] - windowS;
    this.set([...this.points.filter((p) => p[0] >= cutoff), point]);
  }

  private data(): uPlot.AlignedData {
    return [this.points.map((p) => p[0]), this.points.map((p) => p[1])];
  }

  private build(): void {
    if (!this.el.isConnected && this.plot === null && this.points.length === 0) return;
    this.plot?.destroy();
    const color = getComputedStyle(document.documentElement).getPropertyValue(this.colorVar).trim() || "#888";
    const yMax = this.yMax;
    this.plot = new uPlot(
      {
        width: this.width,
        height: this.height,
        pxAlign: false,
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        legend: { show: false },
        scales: {
          x: { time: false },
          y: { range: (_u, min, max) => [Math.min(0, min), yMax ?? (max > 0 ? max : 1)] },
        },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: color, width: 1.25, fill: color + "22", points: { show: false } }],
      },
      this.data(),
      this.el,
    );
  }
}
