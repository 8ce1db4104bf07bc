// Server-sent live updates (GET /api/v1/stream). EventSource reconnects by itself after a
// dropped connection; when the server refuses the stream (busy, restarting) we retry with a
// bounded, jittered backoff. A stream whose session ended or whose token was revoked gets a
// last `end` event: it is closed for good and the page asks for a login.

import { UNAUTHORIZED_EVENT } from "./api";

export interface LiveMessage<T> {
  now: number;
  data: T;
}

export type LiveState = "connecting" | "live" | "reconnecting";

/** Handlers of further events of the same stream (e.g. `fleet-delta`), by event name. */
export type MoreEvents = Record<string, (message: LiveMessage<unknown>, receivedAt: number) => void>;

export function subscribe<T>(
  params: Record<string, string>,
  event: string,
  onMessage: (message: LiveMessage<T>, receivedAt: number) => void,
  onState: (state: LiveState) => void,
  more: MoreEvents = {},
): () => void {
  let source: EventSource | null = null;
  let retryTimer: number | undefined;
  let failures = 0;
  let closed = false;

  const open = () => {
    if (closed) return;
    const url = new URL("/api/v1/stream", window.location.origin);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    onState(failures ? "reconnecting" : "connecting");
    const es = new EventSource(url);
    source = es;
    es.addEventListener("open", () => {
      failures = 0;
      onState("live");
    });
    const listen = <M>(name: string, handle: (message: LiveMessage<M>, receivedAt: number) => void) =>
      es.addEventListener(name, (e) => {
        try {
          handle(JSON.parse((e as MessageEvent<string>).data) as LiveMessage<M>, Date.now() / 1000);
        } catch (err) {
          console.warn("ignoring a malformed live event", err);
        }
      });
    listen(event, onMessage);
    for (const [name, handle] of Object.entries(more)) listen(name, handle);
    es.addEventListener("end", () => {
      closed = true;
      es.close();
      window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
    });
    es.addEventListener("error", () => {
      onState("reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        failures += 1;
        const base = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
        retryTimer = window.setTimeout(open, base / 2 + Math.random() * (base / 2));
      }
    });
  };
  open();
  return () => {
    closed = true;
    if (retryTimer !== undefined) window.clearTimeout(retryTimer);
    source?.close();
  };
}

/** Renders the connection state into `el` (a small badge). */
export function showState(el: HTMLElement, state: LiveState): void {
  el.dataset.state = state;
  el.textContent = state === "live" ? "live" : state === "connecting" ? "connecting…" : "reconnecting…";
}
