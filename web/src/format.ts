// Number, byte, rate, time and duration formatting for tables, tooltips and axes.

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function isNum(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

export function percent(ratio: number | null | undefined, digits = 1): string {
  return isNum(ratio) ? `${(ratio * 100).toFixed(digits)} %` : "–";
}

export function bytes(v: number | null | undefined, digits = 1): string {
  if (!isNum(v)) return "–";
  let value = Math.abs(v);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const sign = v < 0 ? "-" : "";
  return `${sign}${unit === 0 ? value.toFixed(0) : value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

export function byteRate(v: number | null | undefined): string {
  return isNum(v) ? `${bytes(v)}/s` : "–";
}

const SI = ["", "k", "M", "G", "T"];

export function number(v: number | null | undefined, digits = 2): string {
  if (!isNum(v)) return "–";
  let value = Math.abs(v);
  let unit = 0;
  while (value >= 1000 && unit < SI.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const text = unit === 0 && Number.isInteger(v) ? value.toFixed(0) : value.toFixed(digits);
  return `${v < 0 ? "-" : ""}${text}${SI[unit] ? " " + SI[unit] : ""}`;
}

export function perSecond(v: number | null | undefined): string {
  return isNum(v) ? `${number(v)}/s` : "–";
}

export function duration(seconds: number): string {
  if (!isNum(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function dateTime(unixSeconds: number): string {
  if (!isNum(unixSeconds)) return "–";
  return new Date(unixSeconds * 1000).toLocaleString(undefined, { hour12: false });
}

export type Unit = "ratio" | "bytes" | "bytes/s" | "per_s" | "number" | "celsius";

export function byUnit(unit: Unit): (v: number | null | undefined) => string {
  switch (unit) {
    case "ratio":
      return (v) => percent(v);
    case "bytes":
      return (v) => bytes(v);
    case "bytes/s":
      return (v) => byteRate(v);
    case "per_s":
      return (v) => perSecond(v);
    case "celsius":
      return (v) => (isNum(v) ? `${v.toFixed(1)} °C` : "–");
    default:
      return (v) => number(v);
  }
}
