// The alerting API as the alerts and SLO pages use it: rules with their alerts, silences,
// notifiers, SLO reports and burn-downs.
import { ApiError, getJson } from "./api";
import { csrfHeaders } from "./session";

export type Severity = "critical" | "high" | "medium" | "low";

export interface AlertDoc {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  activeAt: string;
  value: string;
  firedAt: string | null;
  muted: "silenced" | "inhibited" | null;
  fingerprint: string;
}

export interface RuleDoc {
  id: string;
  name: string;
  state: "inactive" | "pending" | "firing";
  query: string;
  threshold: number | null;
  clearThreshold: number | null;
  labels: Record<string, string>;
  alerts: AlertDoc[];
  health: string;
  lastError: string | null;
}

export interface RuleGroupDoc {
  name: string;
  rules: RuleDoc[];
}

export interface MatcherDoc {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface SilenceDoc {
  id: string;
  matchers: MatcherDoc[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  status: { state: "active" | "pending" | "expired" };
}

export interface NotifierDoc {
  name: string;
  type: string;
  sent: number;
  failed: number;
  dropped: number;
  failedAttempts: number;
  queued: number;
  lastSuccess: string | null;
  lastFailure: string | null;
  lastError: string | null;
}

export interface SloIndicatorDoc {
  name: string;
  availability: number | null;
  burn_rates: Record<string, number | null>;
  burning: boolean;
  burning_alerts: { long_window: string; short_window: string; burn_rate: number; severity: string; action: string }[];
  error: string | null;
}

export interface SloDoc {
  name: string;
  description: string;
  target: number;
  window?: string;
  window_s?: number;
  availability?: number | null;
  error_budget?: {
    total_ratio: number;
    total_s: number;
    remaining_ratio: number | null;
    remaining_s: number | null;
    consumed_ratio: number | null;
  };
  burn_rates?: Record<string, number | null>;
  healthy: boolean | null;
  /** "unknown" when a query of the SLO fails: its budget and burn rates cannot be trusted. */
  state?: "healthy" | "unhealthy" | "unknown";
  error?: string | null;
  burning?: string[];
  indicators?: SloIndicatorDoc[];
  evaluated_at: number | null;
}

export interface BurnDownDoc {
  name: string;
  target: number;
  window_s: number;
  start: number;
  end: number;
  step: number;
  remaining: [number, number][];
  indicators: { name: string; remaining: [number, number][]; error: string | null }[];
}

/** POST or DELETE with a JSON body; answers the envelope's data or throws the server's message. */
export async function sendJson<T>(method: "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, window.location.origin), {
      method,
      headers: {
        Accept: "application/json",
        ...csrfHeaders(),
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, `the collector cannot be reached (${String(err)})`);
  }
  let doc: { status?: string; data?: T; error?: string } | null = null;
  try {
    doc = await response.json();
  } catch {
    doc = null;
  }
  if (!response.ok || !doc || doc.status !== "success") {
    throw new ApiError(response.status, doc?.error ?? `${response.status} ${response.statusText}`);
  }
  return doc.data as T;
}

export const rules = () => getJson<{ groups: RuleGroupDoc[] }>("/api/v1/rules");
export const alerts = () => getJson<{ alerts: AlertDoc[] }>("/api/v1/alerts");
export const silences = () => getJson<SilenceDoc[]>("/api/v1/silences");
export const notifiers = () => getJson<NotifierDoc[]>("/api/v1/notifiers");
export const slos = () => getJson<SloDoc[]>("/api/v1/slos");
export const burnDown = (name: string, points: number, signal?: AbortSignal) =>
  getJson<BurnDownDoc>(`/api/v1/slos/${encodeURIComponent(name)}/burndown`, { points }, signal);

export function createSilence(matchers: MatcherDoc[], createdBy: string, comment: string, durationSeconds: number) {
  return sendJson<{ silenceID: string }>("POST", "/api/v1/silences", { matchers, createdBy, comment, durationSeconds });
}

export function expireSilence(id: string) {
  return sendJson<SilenceDoc>("DELETE", `/api/v1/silences/${encodeURIComponent(id)}`);
}

/** Whether a silence's matchers all match these labels (Alertmanager's rules; a missing label is ""). */
export function silenceMatches(silence: SilenceDoc, labels: Record<string, string>): boolean {
  return silence.matchers.every((m) => {
    const value = labels[m.name] ?? "";
    let hit: boolean;
    if (m.isRegex) {
      try {
        hit = new RegExp(`^(?:${m.value})$`).test(value);
      } catch {
        return false;
      }
    } else hit = value === m.value;
    return m.isEqual === false ? !hit : hit;
  });
}

/** Seconds since the epoch from an RFC 3339 time (NaN when absent). */
export function epoch(rfc3339: string | null | undefined): number {
  return rfc3339 ? Date.parse(rfc3339) / 1000 : NaN;
}

/** Severities from the most urgent down. */
export const SEVERITIES: Severity[] = ["critical", "high", "medium", "low"];
