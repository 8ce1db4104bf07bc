// A half-circle gauge (SVG) for a share from 0 to 1, e.g. the error budget left.
import { h } from "./dom";

const NS = "http://www.w3.org/2000/svg";
const R = 40;
const ARC = Math.PI * R; // length of the half circle

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export class Gauge {
  readonly el: HTMLElement;
  private readonly bar: SVGPathElement;
  private readonly value: HTMLElement;
  private readonly caption: HTMLElement;

  constructor(label: string) {
    const path = `M ${50 - R} 50 A ${R} ${R} 0 0 1 ${50 + R} 50`;
    const track = svg("path", { d: path, class: "gauge-track", fill: "none", "stroke-width": 10 });
    this.bar = svg("path", { d: path, class: "gauge-bar", fill: "none", "stroke-width": 10, "stroke-dasharray": `0 ${ARC}` });
    const drawing = svg("svg", { viewBox: "0 0 100 56", "aria-hidden": "true", focusable: "false" });
    drawing.append(track, this.bar);
    this.value = h("span", { class: "gauge-value" });
    this.caption = h("span", { class: "gauge-caption muted" });
    this.el = h("div", { class: "gauge", role: "meter", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100 });
    this.el.append(drawing as unknown as Node, this.value, this.caption);
  }

  /** Show `ratio` (clamped to 0..1 on the arc; the text says the real value). */
  set(ratio: number | null, text: string, caption: string): void {
    const shown = ratio === null ? 0 : Math.min(1, Math.max(0, ratio));
    this.bar.setAttribute("stroke-dasharray", `${shown * ARC} ${ARC}`);
    const level = ratio === null ? "unknown" : ratio <= 0 ? "empty" : ratio < 0.25 ? "low" : ratio < 0.5 ? "mid" : "ok";
    this.el.dataset.level = level;
    this.el.dataset.ratio = ratio === null ? "" : String(ratio);
    this.el.setAttribute("aria-valuenow", String(Math.round(shown * 1000) / 10));
    this.el.setAttribute("aria-valuetext", `${text}, ${caption}`);
    this.value.textContent = text;
    this.caption.textContent = caption;
  }
}
