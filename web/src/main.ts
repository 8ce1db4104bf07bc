// The dashboard's entry: navigation, theme, and the page the path names.
import "./style.css";
import { showFiringCount } from "./alertcount";
import { UNAUTHORIZED_EVENT, uiInfo, type UiInfo } from "./api";
import { byId, h } from "./dom";
import type { Page } from "./page";
import { alertsPage } from "./pages/alerts";
import { auditPage } from "./pages/audit";
import { explorePage } from "./pages/explore";
import { fleetPage } from "./pages/fleet";
import { hostPage } from "./pages/host";
import { slosPage } from "./pages/slos";
import { isUnauthorized, showLogin, showWho, whoami, type Whoami } from "./session";
import { setupTheme } from "./theme";

interface Route {
  pattern: RegExp;
  page: (match: RegExpMatchArray) => Page;
  nav: string | null;
}

const ROUTES: Route[] = [
  { pattern: /^\/$/, page: () => fleetPage, nav: "/" },
  { pattern: /^\/hosts\/([^/]+)$/, page: (m) => hostPage(decodeURIComponent(m[1])), nav: "/" },
  { pattern: /^\/explore$/, page: () => explorePage, nav: "/explore" },
  { pattern: /^\/alerts$/, page: () => alertsPage, nav: "/alerts" },
  { pattern: /^\/slos$/, page: () => slosPage, nav: "/slos" },
  { pattern: /^\/audit$/, page: () => auditPage, nav: "/audit" },
];

interface NavItem {
  href: string;
  label: string;
  /** Shown only when the collector offers it (see GET /api/v1/ui) to this caller's role. */
  when?: (info: UiInfo, role: string) => boolean;
}

const NAV: NavItem[] = [
  { href: "/", label: "Fleet" },
  { href: "/explore", label: "Explore" },
  { href: "/alerts", label: "Alerts", when: (info) => info.features.alerts },
  { href: "/slos", label: "SLOs", when: (info) => info.features.alerts },
  { href: "/audit", label: "Audit", when: (_info, role) => role === "admin" },
  { href: "/docs", label: "API" },
];

function renderNav(info: UiInfo, role: string, current: string | null): void {
  const list = byId("nav");
  for (const item of NAV) {
    if (item.when && !item.when(info, role)) continue;
    const link = h("a", { href: item.href, text: item.label });
    if (item.href === current) link.setAttribute("aria-current", "page");
    if (item.href === "/alerts") showFiringCount(link);
    list.appendChild(h("li", {}, link));
  }
}

async function start(): Promise<void> {
  setupTheme(byId<HTMLButtonElement>("theme"));
  const main = byId("main");
  const path = window.location.pathname.replace(/\/+$/, "") || "/";
  const route = ROUTES.map((r) => ({ r, m: path.match(r.pattern) })).find((x) => x.m);
  let info: UiInfo;
  let me: Whoami;
  try {
    info = await uiInfo();
    me = await whoami();
  } catch (err) {
    if (isUnauthorized(err)) {
      showLogin(main);
      return;
    }
    main.appendChild(h("p", { class: "error-text", role: "alert", text: `Cannot load the dashboard: ${String(err)}` }));
    return;
  }
  showWho(me);
  // A session that ends while the page is open: reload, so the login form shows.
  window.addEventListener(UNAUTHORIZED_EVENT, () => window.location.reload(), { once: true });
  // Only admins see the Audit link.
  renderNav(info, me.role, route?.r.nav ?? null);
  if (!route?.m) {
    main.appendChild(h("h1", { text: "Not found" }));
    main.appendChild(h("p", {}, "No page here. ", h("a", { href: "/", text: "Go to the fleet" }), "."));
    return;
  }
  route.r.page(route.m)(main, info);
}

void start();
