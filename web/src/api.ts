// The public HTTP API, as the pages use it. Errors carry the server's own message.

export type Point = [number, number];

export interface NamedSeries {
  name: string;
  labels: Record<string, string>;
  points: Point[];
}

export interface RangeAnswer {
  start: number;
  end: number;
  step: number;
  series: NamedSeries[];
  /** Set by collectors that keep several retention tiers: which one answered. */
  tier?: unknown;
  [key: string]: unknown;
}

export interface Summary {
  cpu_usage_ratio: number | null;
  memory_used_ratio: number | null;
  swap_used_ratio: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  filesystem_max_used_ratio: number | null;
  network_receive_bytes_per_second: number | null;
  network_transmit_bytes_per_second: number | null;
  disk_read_bytes_per_second: number | null;
  disk_written_bytes_per_second: number | null;
}

export interface AgentHealth {
  spool_bytes: number | null;
  spool_frames: number | null;
  resident_memory_bytes: number | null;
  dropped_samples_total: number | null;
  dropped_samples_per_second: number | null;
  send_errors_total: number | null;
  send_errors_per_second: number | null;
  sampler_errors_total: number | null;
  sampler_errors_per_second: number | null;
  cpu_usage_ratio: number | null;
}

export type Status = "up" | "stale" | "down";

/** What the host is, from its info series; null where the agent does not say. */
export interface Inventory {
  os: string | null;
  kernel: string | null;
  cpu_model: string | null;
  agent_version: string | null;
  /** Unix seconds. */
  boot_time: number | null;
  /** True when the agent is older than the collector; null when it cannot be compared. */
  agent_outdated: boolean | null;
}

/** The filesystem that fills up first, at the pace of the last 6 h, when within a day. */
export interface DiskForecast {
  mountpoint: string;
  device: string;
  full_in_s: number;
}

/** A service or container as the agent's cgroups sampler reports it (rates per second). */
export interface Workload {
  kind: "service" | "container" | "other" | string;
  runtime: string;
  name: string;
  image: string | null;
  /** The scan's time, Unix seconds. */
  timestamp: number;
  cpu_cores: number | null;
  memory_bytes: number | null;
  working_set_bytes: number | null;
  read_bytes_per_second: number | null;
  write_bytes_per_second: number | null;
  cpu_waiting_ratio: number | null;
  memory_waiting_ratio: number | null;
  io_waiting_ratio: number | null;
  oom_events_total: number | null;
}

export interface FleetRow {
  host: string;
  agent_id: string;
  status: Status;
  last_seen: number;
  timestamp: number;
  interval_s: number;
  flush_period_s: number;
  summary: Summary;
  agent: AgentHealth;
  /** Absent in rows from collectors older than this dashboard. */
  inventory?: Inventory;
  forecast?: DiskForecast | null;
}

export interface ProcessRow {
  pid: number | string;
  name: string;
  user: string;
  cpu_usage_ratio: number | null;
  resident_memory_bytes: number | null;
}

export interface UiInfo {
  version: string;
  features: { alerts: boolean };
  query: { max_points: number };
  live: { stale_after_flushes: number; down_after_flushes: number; stream_interval_s: number };
}

export interface PromMatrix {
  resultType: "matrix";
  result: { metric: Record<string, string>; values: [number, string][] }[];
}

export interface PromVector {
  resultType: "vector" | "scalar" | "string";
  result: unknown;
}

/** Fired when the API answers 401: the page then reloads and shows the login form. */
export const UNAUTHORIZED_EVENT = "hostvitals:unauthorized";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string, params: Record<string, string | number | undefined> = {}, signal?: AbortSignal): Promise<T> {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  let response: Response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, `the collector cannot be reached (${String(err)})`);
  }
  let body: { status?: string; data?: T; error?: string } | null = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || !body || body.status !== "success") {
    const message = body?.error ?? `${response.status} ${response.statusText}`;
    // No (or no longer a) credential: the session ended. See main.ts.
    if (response.status === 401) window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    throw new ApiError(response.status, message);
  }
  return body.data as T;
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

export function uiInfo(): Promise<UiInfo> {
  return getJson<UiInfo>("/api/v1/ui");
}

export function familyRange(
  family: string,
  host: string,
  start: number,
  end: number,
  step: number,
  signal?: AbortSignal,
  resolution?: string,
): Promise<RangeAnswer> {
  return getJson<RangeAnswer>(`/api/v1/metrics/${family}`, { host, start, end, step, resolution }, signal);
}

/** The tier a range answer came from, as words; "raw" when the collector keeps only one. */
export function tierName(answer: RangeAnswer | null): string {
  const tier = answer?.tier;
  if (typeof tier === "string" && tier) return tier;
  if (tier && typeof tier === "object") {
    const named = tier as Record<string, unknown>;
    for (const key of ["name", "id", "tier"]) {
      if (typeof named[key] === "string") return named[key] as string;
    }
  }
  return "raw";
}
