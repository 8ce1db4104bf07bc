// What a host is, in one line: OS, kernel, CPU model, uptime and agent version (from the
// agent's info series, through its fleet row). An agent older than the collector is marked.
import type { Inventory } from "./api";
import { h, clear } from "./dom";
import { duration } from "./format";

export function uptime(inv: Inventory | undefined, now: number): string {
  return inv?.boot_time ? duration(now - inv.boot_time) : "–";
}

export function agentVersion(inv: Inventory | undefined, collectorVersion: string): { text: string; title: string; outdated: boolean } {
  const version = inv?.agent_version ?? null;
  const outdated = inv?.agent_outdated === true;
  return {
    text: version ?? "–",
    title: outdated ? `older than the collector (${collectorVersion || "?"}): upgrade this agent` : version ? "the agent's version" : "the agent does not report its version",
    outdated,
  };
}

export class InventoryStrip {
  readonly el = h("dl", { class: "inventory", id: "inventory", "aria-label": "What this host is" });
  private inv: Inventory | undefined;
  private collectorVersion = "";

  update(inv: Inventory | undefined, collectorVersion: string, now: number): void {
    this.inv = inv;
    this.collectorVersion = collectorVersion;
    this.render(now);
  }

  /** Uptime moves on between frames. */
  tick(now: number): void {
    if (this.inv) this.render(now);
  }

  private render(now: number): void {
    const inv = this.inv;
    const agent = agentVersion(inv, this.collectorVersion);
    const item = (key: string, label: string, value: string, title?: string, cls?: string) =>
      h("div", { class: "item", "data-item": key }, h("dt", { text: label }), h("dd", { text: value, title: title ?? value, class: cls }));
    clear(this.el);
    this.el.append(
      item("os", "OS", inv?.os ?? "–"),
      item("kernel", "Kernel", inv?.kernel ?? "–"),
      item("cpu", "CPU", inv?.cpu_model ?? "–"),
      item("uptime", "Up", uptime(inv, now), inv?.boot_time ? `booted ${new Date(inv.boot_time * 1000).toLocaleString(undefined, { hour12: false })}` : undefined),
      item("agent", "Agent", agent.outdated ? `${agent.text} (outdated)` : agent.text, agent.title, agent.outdated ? "warn" : undefined),
    );
    this.el.dataset.outdated = String(agent.outdated);
  }
}
