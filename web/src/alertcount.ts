// The count of firing alerts beside the nav's Alerts entry, refreshed on a timer and whenever
// a page has fresher alerts ("alertschange" event with the alerts as detail).
import type { AlertDoc } from "./alertsapi";
import { alerts } from "./alertsapi";

const REFRESH_MS = 15_000;

export function showFiringCount(link: HTMLElement): void {
  const badge = document.createElement("span");
  badge.className = "nav-count";
  badge.hidden = true;
  link.appendChild(badge);
  const render = (list: AlertDoc[]) => {
    const firing = list.filter((a) => a.state === "firing");
    const loud = firing.filter((a) => !a.muted).length;
    badge.hidden = firing.length === 0;
    badge.textContent = String(firing.length);
    badge.dataset.firing = String(firing.length);
    badge.classList.toggle("quiet", loud === 0);
    badge.setAttribute("aria-label", `${firing.length} firing` + (loud < firing.length ? `, ${firing.length - loud} muted` : ""));
  };
  const refresh = () =>
    alerts()
      .then((data) => render(data.alerts))
      .catch(() => undefined); // the count is a hint; the alerts page shows errors
  document.addEventListener("alertschange", (e) => render((e as CustomEvent<AlertDoc[]>).detail));
  void refresh();
  window.setInterval(() => {
    if (document.visibilityState === "visible") void refresh();
  }, REFRESH_MS);
}
