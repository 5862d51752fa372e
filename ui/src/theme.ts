/**
 * Light and dark: the system's choice (prefers-color-scheme) unless the toggle picked one,
 * remembered in localStorage. The choice goes on <html data-theme>, which styles.css reads;
 * charts redraw with the new colours (they follow `theme`).
 */
import { createStore } from "./store.js";

/** What the toggle can be set to. */
export type ThemeChoice = "system" | "light" | "dark";

const KEY = "actionqueue.theme";

function readChoice(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "system";
  } catch {
    return "system";
  }
}

/** The current choice. */
export const theme = createStore<ThemeChoice>(readChoice());

/** Bumped whenever the colours change (a choice, or the system's scheme while "system"): charts redraw. */
export const palette = createStore(0);

/** Applies the choice to the document and follows the system's scheme (call once at start). */
export function initTheme(): void {
  applyTheme();
  if (typeof matchMedia === "function") {
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (theme.get() === "system") palette.set(palette.get() + 1);
    });
  }
}

function applyTheme(): void {
  const c = theme.get();
  if (c === "system") delete document.documentElement.dataset["theme"];
  else document.documentElement.dataset["theme"] = c;
  palette.set(palette.get() + 1);
}

/** Sets, remembers and applies a choice. */
export function setTheme(c: ThemeChoice): void {
  try {
    if (c === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, c);
  } catch {
    // Storage disabled: the choice lasts as long as the page.
  }
  theme.set(c);
  applyTheme();
}

/** Whether the page is dark now (the choice, or the system's when "system"). */
export function isDark(): boolean {
  const c = theme.get();
  if (c !== "system") return c === "dark";
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches;
}

/** The value of a CSS custom property of the document ("--fg"), for canvas drawing. */
export function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v === "" ? fallback : v;
}
