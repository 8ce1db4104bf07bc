// Who is looking: the login form (shown when the API answers 401), the user's name and role
// in the top bar, logout, and the CSRF token every change made with the session cookie sends.
import { ApiError, getJson } from "./api";
import { byId, clear, h } from "./dom";

export interface Whoami {
  kind: "token" | "agent" | "legacy" | "anonymous" | "session";
  role: string;
  id: string;
  name: string;
  csrf_token?: string;
}

let csrf: string | null = null;

/** Headers a change (POST, DELETE) adds: the session's CSRF token once logged in. */
export function csrfHeaders(): Record<string, string> {
  return csrf ? { "X-CSRF-Token": csrf } : {};
}

export async function whoami(): Promise<Whoami> {
  const me = await getJson<Whoami>("/api/v1/whoami");
  csrf = me.csrf_token ?? null;
  return me;
}

async function postJson(path: string, body: unknown): Promise<{ status: number; doc: { error?: string; data?: unknown } | null; retryAfter: string | null }> {
  const response = await fetch(new URL(path, window.location.origin), {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json", ...csrfHeaders() },
    body: JSON.stringify(body),
  });
  let doc: { error?: string; data?: unknown } | null = null;
  try {
    doc = await response.json();
  } catch {
    doc = null;
  }
  return { status: response.status, doc, retryAfter: response.headers.get("Retry-After") };
}

/** Replace the page with the login form; a right login reloads the page the user asked for. */
export function showLogin(main: HTMLElement): void {
  clear(main);
  clear(byId("nav"));
  const message = h("p", { class: "error-text", role: "alert", id: "login-error" });
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", text: "Log in" });
  const form = h(
    "form",
    { class: "login-form", "aria-labelledby": "login-title", method: "post", action: "/api/v1/login" },
    h("h1", { id: "login-title", text: "Log in" }),
    h("label", { for: "login-user", text: "User name" }),
    user,
    h("label", { for: "login-password", text: "Password" }),
    password,
    submit,
    message,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.textContent = "";
    void postJson("/api/v1/login", { username: user.value, password: password.value })
      .then(({ status, doc, retryAfter }) => {
        if (status === 200) {
          window.location.reload();
          return;
        }
        password.value = "";
        if (status === 401) message.textContent = "Wrong user name or password.";
        else if (status === 429) message.textContent = `Too many failed logins: try again in ${retryAfter ?? "a few"} s.`;
        else message.textContent = doc?.error ?? `Login failed (${status}).`;
      })
      .catch((err: unknown) => {
        message.textContent = `The collector cannot be reached (${String(err)}).`;
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  main.appendChild(form);
  user.focus();
}

/** The user's name and role in the top bar; a logout button for a login session. */
export function showWho(me: Whoami): void {
  const box = byId("who");
  clear(box);
  if (me.kind === "anonymous") return;
  const label = me.kind === "session" ? me.name : `token ${me.name}`;
  box.appendChild(h("span", { class: "who-name", "data-kind": me.kind, text: label }));
  box.appendChild(h("span", { class: "who-role", text: me.role }));
  if (me.kind !== "session") return;
  const button = h("button", { type: "button", class: "ghost", id: "logout", text: "Log out" });
  button.addEventListener("click", () => {
    void postJson("/api/v1/logout", {}).finally(() => {
      csrf = null;
      window.location.assign("/");
    });
  });
  box.appendChild(button);
}

export function isUnauthorized(err: unknown): boolean {
  return err instanceof ApiError && err.status === 401;
}
