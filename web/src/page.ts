// What a page is: it fills the main element, given what the collector offers (GET /api/v1/ui).
// Its own module, so the pages need not import the entry (main.ts), which imports them.
import type { UiInfo } from "./api";

export type Page = (main: HTMLElement, info: UiInfo) => void;
