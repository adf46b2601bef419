/**
 * Reading the dashboard page back in workerd: HTMLRewriter (the runtime's own HTML
 * parser) walks the page's data attributes and rebuilds the /v1/stats object from them,
 * so a test can compare the page with the JSON in one `toEqual`.
 */
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";

export const BASE = "https://ingest.test";

/** GET `path` through the Worker, optionally with another STATS_MIN_INSTALLATIONS. */
export function get(path: string, minInstallations?: string, init: RequestInit = {}): Promise<Response> {
	if (minInstallations === undefined) return exports.default.fetch(`${BASE}${path}`, init);
	const request = new Request(`${BASE}${path}`, init) as Parameters<typeof worker.fetch>[0];
	return worker.fetch(request, { ...env, STATS_MIN_INSTALLATIONS: minInstallations });
}

export interface ChartRow {
	key: string;
	/** Published count, or null when the row is shown as suppressed. */
	count: number | null;
	/** The visible texts of the count and share cells. */
	cells: string[];
}

export interface Chart {
	path: string[];
	rows: ChartRow[];
	/** data-key of each <rect class="bar">, in order. */
	bars: string[];
}

export interface ParsedPage {
	/** The /v1/stats object as the page's data attributes describe it. */
	stats: Record<string, unknown>;
	charts: Chart[];
	/** href of each window link, and which one is aria-current. */
	windows: { href: string; current: boolean; text: string }[];
	minInstallations: number | null;
	styles: string[];
	scripts: number;
}

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };

/** HTMLRewriter hands out attribute values and text as written: decode the escaper's entities. */
export function unescapeHtml(text: string): string {
	return text.replace(/&(?:amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e);
}

function attr(el: Element, name: string): string | null {
	const value = el.getAttribute(name);
	return value === null ? null : unescapeHtml(value);
}

function set(root: Record<string, unknown>, path: readonly string[], value: unknown): void {
	let node = root;
	for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
	node[path[path.length - 1] ?? ""] = value;
}

/** Parses the dashboard HTML. */
export async function parsePage(html: string): Promise<ParsedPage> {
	const page: ParsedPage = { stats: {}, charts: [], windows: [], minInstallations: null, styles: [], scripts: 0 };
	let chart: Chart | null = null;
	let row: ChartRow | null = null;
	let cell: string[] | null = null;
	let link: { href: string; current: boolean; text: string } | null = null;
	let style: string[] | null = null;
	const rewriter = new HTMLRewriter()
		.on("[data-stat]", {
			element(el) {
				const name = attr(el, "data-stat") ?? "";
				const text = attr(el, "data-value");
				const value = Number(text);
				if (name === "min-installations") page.minInstallations = value;
				else if (name === "as_of") page.stats[name] = text === "" ? null : text;
				else page.stats[name] = value;
			},
		})
		.on("table[data-path]", {
			element(el) {
				chart = { path: JSON.parse(attr(el, "data-path") ?? "[]") as string[], rows: [], bars: [] };
				page.charts.push(chart);
				set(page.stats, chart.path, {});
			},
		})
		.on("table[data-path] tbody tr[data-key]", {
			element(el) {
				const count = attr(el, "data-count");
				row = { key: attr(el, "data-key") ?? "", count: count === null ? null : Number(count), cells: [] };
				chart?.rows.push(row);
				if (chart && row.count !== null) {
					const counts = chart.path.reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, page.stats);
					counts[row.key] = row.count;
				}
			},
		})
		.on("table[data-path] rect.bar", {
			element(el) {
				chart?.bars.push(attr(el, "data-key") ?? "");
			},
		})
		.on("table[data-path] td.num", {
			element() {
				cell = [];
				row?.cells.push("");
			},
			text(t) {
				if (!cell || !row) return;
				cell.push(t.text);
				row.cells[row.cells.length - 1] = unescapeHtml(cell.join(""));
			},
		})
		.on(".windows a", {
			element(el) {
				link = { href: attr(el, "href") ?? "", current: attr(el, "aria-current") === "page", text: "" };
				page.windows.push(link);
			},
			text(t) {
				if (link) link.text += t.text;
			},
		})
		.on("style", {
			element() {
				style = [];
				page.styles.push("");
			},
			text(t) {
				if (!style) return;
				style.push(t.text);
				page.styles[page.styles.length - 1] = style.join("");
			},
		})
		.on("script", {
			element() {
				page.scripts += 1;
			},
		});
	await rewriter.transform(new Response(html)).text();
	return page;
}

/** SHA-256 of `text` as a CSP hash source. */
export async function sha256Source(text: string): Promise<string> {
	const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
	return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

export interface TrendTable {
	grain: string;
	rows: { start: string; cells: { path: string[]; value: number | null; text: string }[]; median: number | null | undefined }[];
}

export interface ParsedTrends {
	tables: TrendTable[];
	/** Each svg.trend: its classes, role and the IDs it is labelled by. */
	svgs: { className: string; role: string | null; labelledBy: string[] }[];
	/** Text of every element with an id inside the trends (titles and descs). */
	texts: Map<string, string>;
	/** circle.point per chart (the svg's index), in order. */
	points: { chart: number; start: string; value: number }[];
	/** polygon.band data-key, in drawing order (bottom band first). */
	bands: string[];
	legend: string[];
}

/** Reads the trends section's hooks (see src/dashboard/trends.ts). */
export async function parseTrends(html: string): Promise<ParsedTrends> {
	const out: ParsedTrends = { tables: [], svgs: [], texts: new Map(), points: [], bands: [], legend: [] };
	let table: TrendTable | null = null;
	let row: TrendTable["rows"][number] | null = null;
	let cell: { path: string[]; value: number | null; text: string } | null = null;
	let textId: string | null = null;
	let legend: string | null = null;
	const rewriter = new HTMLRewriter()
		.on("svg.trend", {
			element(el) {
				out.svgs.push({ className: attr(el, "class") ?? "", role: attr(el, "role"), labelledBy: (attr(el, "aria-labelledby") ?? "").split(" ") });
			},
		})
		.on("svg.trend title[id], svg.trend desc[id]", {
			element(el) {
				textId = attr(el, "id");
				if (textId) out.texts.set(textId, "");
			},
			text(t) {
				if (textId) out.texts.set(textId, (out.texts.get(textId) ?? "") + unescapeHtml(t.text));
			},
		})
		.on("svg.trend circle.point", {
			element(el) {
				out.points.push({ chart: out.svgs.length - 1, start: attr(el, "data-start") ?? "", value: Number(attr(el, "data-value")) });
			},
		})
		.on("svg.trend polygon.band", {
			element(el) {
				out.bands.push(attr(el, "data-key") ?? "");
			},
		})
		.on("ul.legend li", {
			element() {
				legend = "";
				out.legend.push("");
			},
			text(t) {
				if (legend === null) return;
				legend += t.text;
				out.legend[out.legend.length - 1] = unescapeHtml(legend);
			},
		})
		.on("table[data-series]", {
			element(el) {
				table = { grain: attr(el, "data-series") ?? "", rows: [] };
				out.tables.push(table);
			},
		})
		.on("table[data-series] tbody tr[data-start]", {
			element(el) {
				row = { start: attr(el, "data-start") ?? "", cells: [], median: undefined };
				table?.rows.push(row);
			},
		})
		.on("table[data-series] td[data-path]", {
			element(el) {
				const raw = attr(el, "data-value") ?? "";
				cell = { path: JSON.parse(attr(el, "data-path") ?? "[]") as string[], value: raw === "" ? null : Number(raw), text: "" };
				row?.cells.push(cell);
			},
			text(t) {
				if (cell) cell.text += unescapeHtml(t.text);
			},
		})
		.on("table[data-series] td[data-median]", {
			element(el) {
				const raw = attr(el, "data-median") ?? "";
				if (row) row.median = raw === "" ? null : Number(raw);
			},
		});
	await rewriter.transform(new Response(html)).text();
	return out;
}
