// Alerts: firing and pending alerts with silence and unsilence actions, the active silences and
// the notifiers' health. Polled every few seconds while the page is visible.
import { isAbort } from "../api";
import {
  SEVERITIES,
  createSilence,
  epoch,
  expireSilence,
  notifiers,
  rules,
  silenceMatches,
  silences,
  type AlertDoc,
  type MatcherDoc,
  type NotifierDoc,
  type RuleDoc,
  type SilenceDoc,
} from "../alertsapi";
import { h, clear } from "../dom";
import { dateTime, duration, number } from "../format";
import type { Page } from "../page";

const POLL_MS = 2000;
const AUTHOR_KEY = "hostvitals-silence-author";
const DURATIONS: [string, number][] = [
  ["15 minutes", 900],
  ["1 hour", 3600],
  ["2 hours", 7200],
  ["4 hours", 14400],
  ["8 hours", 28800],
  ["1 day", 86400],
  ["7 days", 604800],
];
// Labels that say which alert this is; the rest (severity, team...) describe it.
const DESCRIPTIVE = new Set(["severity"]);

interface Row {
  alert: AlertDoc;
  rule: RuleDoc | null;
  tr: HTMLTableRowElement;
  cells: Record<string, HTMLElement>;
  silence: HTMLButtonElement;
  unsilence: HTMLButtonElement;
}

function severityOf(alert: AlertDoc): string {
  return alert.labels.severity ?? "none";
}

function severityRank(alert: AlertDoc): number {
  const i = SEVERITIES.indexOf(severityOf(alert) as never);
  return i < 0 ? SEVERITIES.length : i;
}

export function matchersFor(alert: AlertDoc): MatcherDoc[] {
  return Object.entries(alert.labels)
    .filter(([name, value]) => !DESCRIPTIVE.has(name) && value !== "")
    .sort(([a], [b]) => (a === "alertname" ? -1 : b === "alertname" ? 1 : a.localeCompare(b)))
    .map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }));
}

function matcherText(m: MatcherDoc): string {
  return `${m.name}${m.isEqual === false ? "!" : ""}${m.isRegex ? "~" : "="}"${m.value}"`;
}

function storedAuthor(): string {
  try {
    return localStorage.getItem(AUTHOR_KEY) ?? "";
  } catch {
    return "";
  }
}

export const alertsPage: Page = (main) => {
  let active: SilenceDoc[] = [];
  let polling = false;
  const rows = new Map<string, Row>();

  const state = h("span", { class: "live-state", "data-state": "connecting", text: "connecting…" });
  const counts = h("p", { class: "counts", id: "alert-counts", "aria-live": "polite" });
  const error = h("p", { class: "error-text", role: "alert", id: "alerts-error" });
  const tbody = h("tbody", {});
  const none = h("p", { class: "empty", id: "no-alerts", hidden: true, text: "Nothing is firing or pending." });
  const headers = ["Severity", "Alert", "Host", "Value", "State", "Since", "Actions"];
  const table = h(
    "table",
    { id: "alerts-table", class: "alerts" },
    h("caption", { class: "visually-hidden", text: "Firing and pending alerts" }),
    h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col", text: t })))),
    tbody,
  );
  const silenceBody = h("tbody", {});
  const silenceTable = h(
    "table",
    { id: "silences-table" },
    h("caption", { class: "visually-hidden", text: "Silences" }),
    h("thead", {}, h("tr", {}, ...["Matchers", "State", "Created by", "Comment", "Ends", ""].map((t) => h("th", { scope: "col", text: t })))),
    silenceBody,
  );
  const notifierBody = h("tbody", {});
  const notifierTable = h(
    "table",
    { id: "notifiers-table" },
    h("caption", { class: "visually-hidden", text: "Notifiers" }),
    h(
      "thead",
      {},
      h("tr", {}, ...["Notifier", "Type", "Health", "Sent", "Failed", "Dropped", "Retries", "Queued", "Last success", "Last error"].map((t) => h("th", { scope: "col", text: t }))),
    ),
    notifierBody,
  );

  // The silence form: a modal dialog (focus stays inside, Escape closes it).
  const dialogMatchers = h("ul", { class: "matchers", id: "silence-matchers" });
  const author = h("input", { type: "text", id: "silence-author", name: "createdBy", required: true, autocomplete: "name", value: storedAuthor() });
  const comment = h("textarea", { id: "silence-comment", name: "comment", required: true, rows: 3 });
  const durationSelect = h("select", { id: "silence-duration", name: "duration" }, ...DURATIONS.map(([label, s]) => h("option", { value: s, text: label })));
  durationSelect.value = "3600";
  const formError = h("p", { class: "error-text", role: "alert", id: "silence-error" });
  const submit = h("button", { type: "submit", class: "primary", id: "silence-submit", text: "Create silence" });
  const cancel = h("button", { type: "button", id: "silence-cancel", text: "Cancel" });
  const form = h(
    "form",
    { method: "dialog", class: "silence-form", novalidate: true },
    h("h2", { id: "silence-title", text: "Silence alert" }),
    h("p", { class: "muted", text: "Mutes notifications for alerts matching all of:" }),
    dialogMatchers,
    h("label", { for: "silence-author" }, "Created by"),
    author,
    h("label", { for: "silence-comment" }, "Comment"),
    comment,
    h("label", { for: "silence-duration" }, "Duration"),
    durationSelect,
    formError,
    h("div", { class: "dialog-actions" }, cancel, submit),
  );
  const dialog = h("dialog", { id: "silence-dialog", "aria-labelledby": "silence-title" }, form);
  let pendingMatchers: MatcherDoc[] = [];
  let returnFocus: HTMLElement | null = null;

  clear(main);
  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Alerts" }), state),
    counts,
    error,
    h("h2", { text: "Firing and pending" }),
    none,
    h("div", { class: "table-wrap" }, table),
    h("h2", { text: "Silences" }),
    h("div", { class: "table-wrap" }, silenceTable),
    h("h2", { text: "Notifiers" }),
    h("div", { class: "table-wrap" }, notifierTable),
    dialog,
  );

  function openSilence(row: Row): void {
    pendingMatchers = matchersFor(row.alert);
    clear(dialogMatchers);
    for (const m of pendingMatchers) dialogMatchers.appendChild(h("li", { class: "mono", text: matcherText(m) }));
    formError.textContent = "";
    comment.value = "";
    returnFocus = row.silence;
    dialog.showModal();
    (author.value ? comment : author).focus();
  }

  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => returnFocus?.focus());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const who = author.value.trim();
    const why = comment.value.trim();
    if (!who || !why) {
      formError.textContent = !who ? "Say who creates the silence." : "Say why (the comment is shown to everyone).";
      (!who ? author : comment).focus();
      return;
    }
    submit.disabled = true;
    try {
      await createSilence(pendingMatchers, who, why, Number(durationSelect.value));
      try {
        localStorage.setItem(AUTHOR_KEY, who);
      } catch {
        // private mode: not remembered
      }
      dialog.close();
      await poll();
    } catch (err) {
      formError.textContent = `The silence was not created: ${(err as Error).message}`;
    } finally {
      submit.disabled = false;
    }
  });

  async function unsilence(row: Row): Promise<void> {
    const matching = active.filter((s) => silenceMatches(s, row.alert.labels));
    row.unsilence.disabled = true;
    try {
      await Promise.all(matching.map((s) => expireSilence(s.id)));
      await poll();
      row.silence.focus();
    } catch (err) {
      error.textContent = `Could not expire the silence: ${(err as Error).message}`;
    } finally {
      row.unsilence.disabled = false;
    }
  }

  function makeRow(alert: AlertDoc): Row {
    const cells: Record<string, HTMLElement> = {};
    const tr = h("tr", {});
    for (const key of ["severity", "alert", "host", "value", "state", "since"]) {
      cells[key] = h("td", { "data-col": key });
      tr.appendChild(cells[key]);
    }
    const silence = h("button", { type: "button", class: "silence", text: "Silence…" });
    const unsilenceButton = h("button", { type: "button", class: "unsilence", text: "Unsilence" });
    tr.appendChild(h("td", { "data-col": "actions", class: "actions" }, silence, unsilenceButton));
    const row: Row = { alert, rule: null, tr, cells, silence, unsilence: unsilenceButton };
    silence.addEventListener("click", () => openSilence(row));
    unsilenceButton.addEventListener("click", () => void unsilence(row));
    return row;
  }

  function fill(row: Row): void {
    const { alert, rule, cells, tr } = row;
    const name = alert.labels.alertname ?? rule?.name ?? "?";
    const host = alert.labels.host ?? alert.labels.slo ?? "";
    tr.dataset.alert = name;
    tr.dataset.host = host;
    tr.dataset.state = alert.state;
    tr.dataset.muted = alert.muted ?? "";
    const severity = severityOf(alert);
    clear(cells.severity);
    cells.severity.appendChild(h("span", { class: `badge sev-${severity}`, text: severity }));
    clear(cells.alert);
    const summary = alert.annotations.summary ?? alert.annotations.description ?? "";
    const detail = alert.annotations.description && alert.annotations.description !== summary ? alert.annotations.description : "";
    cells.alert.append(h("strong", { text: name }), summary ? h("div", { class: "muted annotation", text: summary }) : "", detail ? h("div", { class: "muted annotation", text: detail }) : "");
    cells.host.textContent = host || "–";
    const value = Number(alert.value);
    const threshold = rule?.threshold;
    cells.value.textContent = number(value, 2) + (threshold !== null && threshold !== undefined ? ` (threshold ${number(threshold, 2)})` : "");
    cells.value.className = "num";
    clear(cells.state);
    cells.state.append(h("span", { class: `badge state-${alert.state}`, text: alert.state }), alert.muted ? h("span", { class: "badge state-muted", text: alert.muted }) : "");
    const since = epoch(alert.state === "firing" && alert.firedAt ? alert.firedAt : alert.activeAt);
    cells.since.textContent = `${duration(Date.now() / 1000 - since)} ago`;
    cells.since.title = dateTime(since);
    const silenced = alert.muted === "silenced" && active.some((s) => silenceMatches(s, alert.labels));
    row.unsilence.hidden = !silenced;
    row.silence.hidden = silenced;
    row.silence.setAttribute("aria-label", `Silence ${name}${host ? ` on ${host}` : ""}`);
    row.unsilence.setAttribute("aria-label", `Unsilence ${name}${host ? ` on ${host}` : ""}`);
  }

  function renderAlerts(list: { alert: AlertDoc; rule: RuleDoc }[]): void {
    const seen = new Set<string>();
    list.sort(
      (a, b) =>
        Number(a.alert.state !== "firing") - Number(b.alert.state !== "firing") ||
        severityRank(a.alert) - severityRank(b.alert) ||
        epoch(a.alert.activeAt) - epoch(b.alert.activeAt),
    );
    for (const { alert, rule } of list) {
      const key = `${rule.id}/${alert.fingerprint}`;
      seen.add(key);
      let row = rows.get(key);
      if (!row) {
        row = makeRow(alert);
        rows.set(key, row);
      }
      row.alert = alert;
      row.rule = rule;
      fill(row);
    }
    for (const [key, row] of rows) {
      if (!seen.has(key)) {
        row.tr.remove();
        rows.delete(key);
      }
    }
    // Reorder only when the order changed: moving a row would take the focus from its buttons.
    const wanted = list.map(({ alert, rule }) => rows.get(`${rule.id}/${alert.fingerprint}`)!.tr);
    if (wanted.some((tr, i) => tbody.children[i] !== tr)) wanted.forEach((tr) => tbody.appendChild(tr));
    none.hidden = rows.size > 0;
    const firing = list.filter((x) => x.alert.state === "firing").length;
    const muted = list.filter((x) => x.alert.muted).length;
    counts.textContent = `${firing} firing, ${list.length - firing} pending` + (muted ? `, ${muted} muted` : "");
    counts.dataset.firing = String(firing);
    document.dispatchEvent(new CustomEvent("alertschange", { detail: list.map((x) => x.alert) }));
  }

  function renderSilences(all: SilenceDoc[]): void {
    clear(silenceBody);
    const shown = all.filter((s) => s.status.state !== "expired").sort((a, b) => epoch(a.endsAt) - epoch(b.endsAt));
    for (const s of shown) {
      const expire = h("button", { type: "button", class: "expire", text: "Expire", "aria-label": `Expire the silence by ${s.createdBy}` });
      expire.addEventListener("click", async () => {
        expire.disabled = true;
        try {
          await expireSilence(s.id);
          await poll();
        } catch (err) {
          error.textContent = `Could not expire the silence: ${(err as Error).message}`;
          expire.disabled = false;
        }
      });
      silenceBody.appendChild(
        h(
          "tr",
          { "data-silence": s.id, "data-state": s.status.state },
          h("td", { class: "mono", text: s.matchers.map(matcherText).join(", ") }),
          h("td", {}, h("span", { class: `badge silence-${s.status.state}`, text: s.status.state })),
          h("td", { text: s.createdBy }),
          h("td", { class: "wrap", text: s.comment }),
          h("td", { text: dateTime(epoch(s.endsAt)), title: `in ${duration(epoch(s.endsAt) - Date.now() / 1000)}` }),
          h("td", {}, expire),
        ),
      );
    }
    const expired = all.length - shown.length;
    if (shown.length === 0) silenceBody.appendChild(h("tr", {}, h("td", { colspan: 6, class: "muted", text: "No active silences." + (expired ? ` ${expired} expired recently.` : "") })));
  }

  function renderNotifiers(list: NotifierDoc[]): void {
    clear(notifierBody);
    for (const n of list) {
      const failing = n.lastFailure !== null && (n.lastSuccess === null || epoch(n.lastFailure) > epoch(n.lastSuccess));
      const health = failing ? "failing" : n.sent > 0 ? "ok" : "idle";
      notifierBody.appendChild(
        h(
          "tr",
          { "data-notifier": n.name, "data-health": health },
          h("th", { scope: "row", text: n.name }),
          h("td", { text: n.type }),
          h("td", {}, h("span", { class: `badge notifier-${health}`, text: health })),
          h("td", { class: "num", text: String(n.sent) }),
          h("td", { class: "num", text: String(n.failed) }),
          h("td", { class: "num", text: String(n.dropped) }),
          h("td", { class: "num", text: String(n.failedAttempts) }),
          h("td", { class: "num", text: String(n.queued) }),
          h("td", { text: n.lastSuccess ? dateTime(epoch(n.lastSuccess)) : "never" }),
          h("td", { class: "wrap", text: n.lastError ?? "" }),
        ),
      );
    }
    if (list.length === 0) notifierBody.appendChild(h("tr", {}, h("td", { colspan: 10, class: "muted", text: "No notifiers are configured (alerts.notifiers)." })));
  }

  async function poll(): Promise<void> {
    if (polling) return;
    polling = true;
    try {
      const [r, s, n] = await Promise.all([rules(), silences(), notifiers()]);
      active = s.filter((x) => x.status.state === "active");
      const list = r.groups.flatMap((g) => g.rules.flatMap((rule) => rule.alerts.map((alert) => ({ alert, rule }))));
      renderAlerts(list);
      renderSilences(s);
      renderNotifiers(n);
      error.textContent = "";
      state.dataset.state = "live";
      state.textContent = "live";
      main.dataset.loaded = String(Number(main.dataset.loaded ?? 0) + 1);
    } catch (err) {
      if (isAbort(err)) return;
      error.textContent = `Cannot load the alerts: ${(err as Error).message}`;
      state.dataset.state = "reconnecting";
      state.textContent = "retrying…";
    } finally {
      polling = false;
    }
  }

  document.title = "Alerts · hostvitals";
  void poll();
  window.setInterval(() => {
    if (document.visibilityState === "visible" && !dialog.open) void poll();
  }, POLL_MS);
};
