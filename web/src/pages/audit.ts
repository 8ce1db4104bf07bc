// Audit: who changed what (tokens, agents, silences, logins, refusals), newest first, and
// whether the audit log's hash chain holds. Admins only: the API answers 403 to anyone else.
import { audit, type AuditAnswer, type AuditRecord } from "../auditapi";
import { h, clear, debounce } from "../dom";
import { dateTime } from "../format";
import type { Page } from "../page";

const REFRESH_MS = 15_000;
const ACTIONS = [
  "", "login.success", "login.failure", "token.add", "token.revoke", "agent.add", "agent.rotate",
  "agent.unpin", "agent.revoke", "agent.binding_denied", "silence.create", "silence.expire",
  "access.denied", "config.reload", "audit.retention",
];

function detailText(detail: Record<string, unknown>): string {
  const text = JSON.stringify(detail);
  return text === "{}" ? "" : text;
}

function row(r: AuditRecord): HTMLTableRowElement {
  return h(
    "tr",
    { "data-seq": r.seq, "data-action": r.action, "data-result": r.result },
    h("td", { class: "num", text: String(r.seq) }),
    h("td", { title: r.time, text: dateTime(r.ts) }),
    h("td", { class: "mono", text: r.action }),
    h("td", { class: "mono", text: r.subject }, r.credential_id ? h("span", { class: "muted", text: ` (${r.credential_id})` }) : null),
    h("td", { text: r.role || "–" }),
    h("td", { class: "mono", text: r.target || "–" }),
    h("td", {}, h("span", { class: `badge ${r.result === "ok" ? "status-up" : "status-down"}`, text: r.result })),
    h("td", { class: "mono", text: r.source || "–" }),
    h("td", { class: "mono", text: r.request_id || "–" }),
    h("td", { class: "mono", text: detailText(r.detail) }),
  );
}

export const auditPage: Page = (main) => {
  const chain = h("p", { id: "audit-chain", "aria-live": "polite" });
  const error = h("p", { class: "error-text", role: "alert", id: "audit-error" });
  const action = h("select", { id: "audit-action", name: "action" }, ...ACTIONS.map((a) => h("option", { value: a, text: a || "every action" })));
  const subject = h("input", { type: "search", id: "audit-subject", name: "subject", placeholder: "subject, e.g. cli:root", autocomplete: "off" });
  const tbody = h("tbody", {});
  const none = h("p", { class: "empty", id: "audit-empty", hidden: true, text: "No audit records match." });
  const headers = ["#", "Time", "Action", "Who", "Role", "Target", "Result", "From", "Request", "Detail"];
  const table = h(
    "table",
    { id: "audit-table" },
    h("caption", { class: "visually-hidden", text: "Audit records, newest first" }),
    h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col", text: t })))),
    tbody,
  );
  clear(main);
  main.append(
    h("div", { class: "page-head" }, h("h1", { text: "Audit log" })),
    chain,
    error,
    h("div", { class: "toolbar" }, h("label", { for: "audit-action", text: "Action" }), action, h("label", { for: "audit-subject", text: "Who" }), subject),
    none,
    h("div", { class: "table-wrap" }, table),
  );

  function showChain(answer: AuditAnswer): void {
    const c = answer.chain;
    chain.dataset.chain = c.ok ? "ok" : "broken";
    chain.className = c.ok ? "status-up" : "status-down";
    clear(chain);
    if (c.ok) {
      const span = c.first_seq === null ? "" : ` (records ${c.first_seq}–${c.last_seq})`;
      chain.append(`Hash chain intact: ${c.records} records${span}.`);
    } else {
      chain.append(h("strong", { text: "Hash chain broken: " }), "records were changed, removed or reordered.");
      chain.append(h("ul", { id: "audit-problems" }, ...c.problems.map((p) => h("li", { class: "mono", text: p }))));
    }
  }

  let generation = 0;
  async function load(): Promise<void> {
    const mine = ++generation;
    try {
      const answer = await audit({ action: action.value || undefined, subject: subject.value.trim() || undefined, limit: 500 });
      if (mine !== generation) return;
      error.textContent = "";
      showChain(answer);
      clear(tbody);
      for (const r of answer.records) tbody.appendChild(row(r));
      none.hidden = answer.records.length > 0;
    } catch (err) {
      if (mine === generation) error.textContent = `Cannot load the audit log: ${String(err)}`;
    }
  }

  action.addEventListener("change", () => void load());
  subject.addEventListener("input", debounce(() => void load(), 300));
  void load();
  const timer = window.setInterval(() => void load(), REFRESH_MS);
  window.addEventListener("pagehide", () => window.clearInterval(timer), { once: true });
};
