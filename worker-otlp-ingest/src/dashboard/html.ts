/**
 * HTML building for the dashboard with escaping as the default: the `html` tag escapes
 * every interpolated string or number, and only an `Html` value (built by this tag
 * itself) passes through unchanged. Nothing reaches the page without going through
 * `escapeHtml`, so a value from D1 or a request can never become markup. Attributes in
 * templates are always double-quoted, and `escapeHtml` escapes quotes too.
 */

const SAFE = Symbol("safe html");

/** Markup that is already safe: only the `html` tag makes one. */
export class Html {
	readonly #value: string;
	constructor(value: string, key: typeof SAFE) {
		if (key !== SAFE) throw new Error("Html is made by the html tag only");
		this.#value = value;
	}
	toString(): string {
		return this.#value;
	}
}

/** What a template may interpolate; false, null and undefined render nothing. */
export type Fragment = Html | string | number | false | null | undefined | readonly Fragment[];

const ENTITIES: Readonly<Record<string, string>> = {
	"&": "&amp;",
	"<": "&lt;",
	">": "&gt;",
	'"': "&quot;",
	"'": "&#39;",
};

/** Text or a double- or single-quoted attribute value, escaped. */
export function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

function render(fragment: Fragment): string {
	if (fragment instanceof Html) return fragment.toString();
	if (Array.isArray(fragment)) return fragment.map(render).join("");
	if (fragment === false || fragment === null || fragment === undefined) return "";
	return escapeHtml(String(fragment));
}

/** Tagged template: literal parts are trusted markup, every value is escaped. */
export function html(strings: TemplateStringsArray, ...values: readonly Fragment[]): Html {
	let out = strings[0] ?? "";
	values.forEach((value, i) => {
		out += render(value) + (strings[i + 1] ?? "");
	});
	return new Html(out, SAFE);
}

/**
 * A constant of this bundle (the stylesheet) as markup, unescaped. Never call it with
 * anything that came from a request or from storage.
 */
export function bundledMarkup(constant: string): Html {
	return new Html(constant, SAFE);
}

/** A whole number with thousands separators (fixed locale: the page must not vary). */
export function formatCount(n: number): string {
	return n.toLocaleString("en-US");
}

/** "1 installation", "5 installations" (regular plurals only). */
export function plural(n: number, noun: string): string {
	return `${formatCount(n)} ${noun}${n === 1 ? "" : "s"}`;
}

/** A share as a whole percentage; "<1%" for a small non-zero share. */
export function formatShare(part: number, total: number): string {
	if (total <= 0) return "—";
	const pct = (100 * part) / total;
	return pct > 0 && pct < 1 ? "<1%" : `${Math.round(pct)}%`;
}

/** "2026-11-25 17:55 UTC". */
export function formatUtc(ms: number): string {
	return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
