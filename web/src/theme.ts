// Dark and light themes: the system's preference unless the user picked one (kept locally).
const KEY = "hostvitals-theme";
type Theme = "light" | "dark";

function stored(): Theme | null {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : null;
  } catch {
    return null;
  }
}

export function currentTheme(): Theme {
  return stored() ?? (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

function apply(theme: Theme, button: HTMLButtonElement): void {
  document.documentElement.dataset.theme = theme;
  const other = theme === "dark" ? "light" : "dark";
  button.textContent = other === "dark" ? "Dark theme" : "Light theme";
  button.setAttribute("aria-label", `Switch to the ${other} theme`);
  document.dispatchEvent(new Event("themechange"));
}

export function setupTheme(button: HTMLButtonElement): void {
  apply(currentTheme(), button);
  button.addEventListener("click", () => {
    const next: Theme = currentTheme() === "dark" ? "light" : "dark";
    try {
      localStorage.setItem(KEY, next);
    } catch {
      // private mode: the choice lasts for this page only
    }
    apply(next, button);
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (!stored()) apply(currentTheme(), button);
  });
}
