// The time-range picker (15 min ... 1 y, and custom) and the step that follows the chart width.
import { h } from "./dom";

export interface Preset {
  key: string;
  label: string;
  seconds: number;
}

export const PRESETS: Preset[] = [
  { key: "15m", label: "15 min", seconds: 900 },
  { key: "1h", label: "1 h", seconds: 3600 },
  { key: "6h", label: "6 h", seconds: 6 * 3600 },
  { key: "24h", label: "24 h", seconds: 86400 },
  { key: "7d", label: "7 d", seconds: 7 * 86400 },
  { key: "30d", label: "30 d", seconds: 30 * 86400 },
  { key: "1y", label: "1 y", seconds: 365 * 86400 },
];

export type TimeRange =
  | { kind: "relative"; preset: Preset }
  | { kind: "absolute"; start: number; end: number };

/** Whole seconds a step may take: rounding up to one of these keeps points <= pixels. */
const NICE_STEPS = [
  1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200,
  86400,
];

/** The smallest "nice" step that gives at most one point per pixel, and at least `minStep`. */
export function stepFor(rangeSeconds: number, pixels: number, minStep = 1): number {
  const raw = Math.max(minStep, rangeSeconds / Math.max(1, Math.floor(pixels)));
  const nice = NICE_STEPS.find((s) => s >= raw);
  return nice ?? Math.ceil(raw / 86400) * 86400;
}

export function bounds(range: TimeRange, now = Date.now() / 1000): { start: number; end: number } {
  if (range.kind === "absolute") return { start: range.start, end: range.end };
  const end = Math.floor(now);
  return { start: end - range.preset.seconds, end };
}

export function isLive(range: TimeRange): boolean {
  return range.kind === "relative";
}

export function fromParams(params: URLSearchParams, fallback = "1h"): TimeRange {
  const from = Number(params.get("from"));
  const to = Number(params.get("to"));
  if (params.has("from") && params.has("to") && Number.isFinite(from) && Number.isFinite(to) && from < to) {
    return { kind: "absolute", start: from, end: to };
  }
  const key = params.get("range") ?? fallback;
  const preset = PRESETS.find((p) => p.key === key) ?? PRESETS.find((p) => p.key === fallback)!;
  return { kind: "relative", preset };
}

export function toParams(range: TimeRange, params: URLSearchParams): void {
  params.delete("range");
  params.delete("from");
  params.delete("to");
  if (range.kind === "relative") params.set("range", range.preset.key);
  else {
    params.set("from", String(Math.floor(range.start)));
    params.set("to", String(Math.floor(range.end)));
  }
}

function localInput(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export interface RangePicker {
  el: HTMLElement;
  /** Show `range` as chosen, without calling `onChange`. */
  show(range: TimeRange): void;
}

/** Buttons for the presets and a custom from/to form; calls `onChange` with the new range. */
export function rangePicker(initial: TimeRange, onChange: (range: TimeRange) => void): RangePicker {
  let current = initial;
  const buttons = PRESETS.map((p) =>
    h("button", { type: "button", class: "seg", "data-range": p.key, text: p.label }),
  );
  const customButton = h("button", { type: "button", class: "seg", "data-range": "custom", "aria-expanded": "false", text: "Custom" });
  const fromInput = h("input", { type: "datetime-local", "aria-label": "From", name: "from" });
  const toInput = h("input", { type: "datetime-local", "aria-label": "To", name: "to" });
  const error = h("span", { class: "error-text", role: "alert" });
  const form = h(
    "form",
    { class: "custom-range", hidden: true },
    h("label", {}, "From ", fromInput),
    h("label", {}, "To ", toInput),
    h("button", { type: "submit", text: "Apply" }),
    error,
  );

  const mark = () => {
    for (const b of buttons) {
      b.setAttribute("aria-pressed", String(current.kind === "relative" && current.preset.key === b.dataset.range));
    }
    customButton.setAttribute("aria-pressed", String(current.kind === "absolute"));
  };
  const set = (range: TimeRange) => {
    current = range;
    mark();
    onChange(range);
  };
  buttons.forEach((b, i) => b.addEventListener("click", () => {
    form.hidden = true;
    customButton.setAttribute("aria-expanded", "false");
    set({ kind: "relative", preset: PRESETS[i] });
  }));
  customButton.addEventListener("click", () => {
    const { start, end } = bounds(current);
    fromInput.value = localInput(start);
    toInput.value = localInput(end);
    form.hidden = !form.hidden;
    customButton.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) fromInput.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const start = new Date(fromInput.value).getTime() / 1000;
    const end = new Date(toInput.value).getTime() / 1000;
    if (!Number.isFinite(start) || !Number.isFinite(end)) {
      error.textContent = "Enter both times.";
      return;
    }
    if (start >= end) {
      error.textContent = "From must be before To.";
      return;
    }
    error.textContent = "";
    set({ kind: "absolute", start, end });
  });
  mark();
  const el = h(
    "div",
    { class: "range-picker" },
    h("div", { class: "segmented", role: "group", "aria-label": "Time range" }, ...buttons, customButton),
    form,
  );
  return {
    el,
    show(range: TimeRange) {
      current = range;
      mark();
    },
  };
}
