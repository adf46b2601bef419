/**
 * The dashboard's trends: server-rendered SVG charts of the /v1/stats?series= objects
 * — active installations and sessions per day, version adoption (share of the week's
 * active installations per version, newest on top) and the weekly median bin of session
 * length. Pure: series in, markup out; no script, no style attribute (the CSP allows
 * only the hashed stylesheet, which colours the charts through classes, in both palettes).
 *
 * Each chart is an <svg role="img"> named by its <title> and summarised by its <desc>,
 * followed by the table of its numbers (in a <details>, so it never widens the page).
 * A withheld number is a gap in the line and "—" in the table, never zero. Hooks for
 * the tests: `table[data-series]`, `tr[data-start]`, and `td[data-path]` with the JSON
 * path of its number in the bucket and `data-value` ("" when withheld); every point
 * drawn is a `circle.point[data-start][data-value]`.
 */
import { DURATION } from "../contract";
import { formatCount, html, plural, type Html } from "./html";
import type { Cell, Series, SeriesBucket } from "../stats/series";
import { compareVersions } from "../stats/versions";

export interface TrendsView {
	readonly day: Series;
	readonly week: Series;
	readonly minInstallations: number;
}

const W = 400;
const H = 190;
const TOP = 10;
const BOTTOM = 24;
/** Distinct version bands; older versions share one band. */
export const VERSION_BANDS = 6;
const VERSION = "service.version";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

interface Plot {
	readonly left: number;
	readonly width: number;
	readonly height: number;
}

const plotOf = (left: number): Plot => ({ left, width: W - left - 8, height: H - TOP - BOTTOM });
const xOf = (p: Plot, i: number, n: number): number => (n <= 1 ? p.left + p.width / 2 : p.left + (i * p.width) / (n - 1));
const num = (v: number): string => v.toFixed(1);

function shortDate(iso: string): string {
	const [, m, d] = iso.split("-").map(Number);
	return `${MONTHS[(m ?? 1) - 1] ?? ""} ${d ?? ""}`;
}

/** 0, a round half and a round top above `max`. */
function ticks(max: number): number[] {
	if (max <= 0) return [0, 1];
	const raw = max / 2;
	const magnitude = 10 ** Math.floor(Math.log10(raw));
	const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= raw) ?? raw;
	return [0, step, 2 * step];
}

function xLabels(p: Plot, buckets: readonly SeriesBucket[], prefix = ""): Html {
	const n = buckets.length;
	const picks = n <= 3 ? buckets.map((_, i) => i) : [0, Math.floor((n - 1) / 2), n - 1];
	return html`${picks.map((i) => {
		const anchor = n > 1 && i === 0 ? "start" : n > 1 && i === n - 1 ? "end" : "middle";
		return html`<text class="axis" x="${num(xOf(p, i, n))}" y="${H - 6}" text-anchor="${anchor}">${prefix}${shortDate(buckets[i]?.start ?? "")}</text>`;
	})}`;
}

function frame(p: Plot, yTicks: readonly number[], label: (v: number) => string): Html {
	const top = yTicks[yTicks.length - 1] ?? 1;
	return html`${yTicks.map((t) => {
		const y = TOP + p.height - (t / top) * p.height;
		return html`<line class="grid" x1="${p.left}" x2="${W - 8}" y1="${num(y)}" y2="${num(y)}"></line><text class="axis" x="${p.left - 5}" y="${num(y + 4)}" text-anchor="end">${label(t)}</text>`;
	})}`;
}

/** Runs of consecutive published values, as index ranges. */
function runs(values: readonly Cell[]): number[][] {
	const out: number[][] = [];
	let current: number[] = [];
	values.forEach((v, i) => {
		if (v === null) {
			if (current.length) out.push(current);
			current = [];
		} else current.push(i);
	});
	if (current.length) out.push(current);
	return out;
}

function svg(id: string, title: string, desc: string, body: Html, extraClass = ""): Html {
	return html`<svg class="trend${extraClass}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-title ${id}-desc"><title id="${id}-title">${title}</title><desc id="${id}-desc">${desc}</desc>${body}</svg>`;
}

const dash = (v: Cell): string => (v === null ? "—" : formatCount(v));

function valueCell(path: readonly string[], v: Cell, text = dash(v)): Html {
	return html`<td class="num" data-path="${JSON.stringify(path)}" data-value="${v === null ? "" : v}">${text}</td>`;
}

function table(grain: string, caption: string, head: readonly string[], rows: readonly Html[]): Html {
	return html`<details class="numbers"><summary>${caption}</summary><div class="table-wrap"><table data-series="${grain}">
<thead><tr>${head.map((h, i) => html`<th scope="col"${i > 0 ? html` class="num"` : ""}>${h}</th>`)}</tr></thead>
<tbody>${rows}</tbody></table></div></details>`;
}

function card(id: string, heading: string, lede: string, figure: Html, numbers: Html, legend: Html | "" = ""): Html {
	return html`<section class="chart trend-card" aria-labelledby="${id}"><h3 id="${id}">${heading}</h3><p class="desc">${lede}</p>${figure}${legend}${numbers}</section>`;
}

function range(values: readonly Cell[]): string {
	const shown = values.filter((v): v is number => v !== null);
	if (shown.length === 0) return "nothing published yet";
	const latest = [...values].reverse().find((v) => v !== null) ?? 0;
	const withheld = values.length - shown.length;
	return `lowest ${formatCount(Math.min(...shown))}, highest ${formatCount(Math.max(...shown))}, latest ${formatCount(latest)}${withheld ? `; ${plural(withheld, "day")} withheld` : ""}`;
}

/** A line (with its area) over the buckets' values; gaps where a value is withheld. */
function lineChart(id: string, title: string, series: Series, field: "installations" | "sessions", unit: string): Html {
	const buckets = series.buckets;
	const values = buckets.map((b) => b[field]);
	const p = plotOf(40);
	const yTicks = ticks(Math.max(0, ...values.map((v) => v ?? 0)));
	const top = yTicks[yTicks.length - 1] ?? 1;
	const yOf = (v: number): number => TOP + p.height - (v / top) * p.height;
	const n = buckets.length;
	const shapes = runs(values).map((run) => {
		const pts = run.map((i) => `${num(xOf(p, i, n))},${num(yOf(values[i] ?? 0))}`);
		const first = run[0] ?? 0;
		const last = run[run.length - 1] ?? 0;
		const area = `${num(xOf(p, first, n))},${num(yOf(0))} ${pts.join(" ")} ${num(xOf(p, last, n))},${num(yOf(0))}`;
		return html`<polygon class="area" points="${area}"></polygon><polyline class="line" points="${pts.join(" ")}"></polyline>`;
	});
	const points = values.map((v, i) =>
		v === null ? "" : html`<circle class="point" data-start="${buckets[i]?.start ?? ""}" data-value="${v}" cx="${num(xOf(p, i, n))}" cy="${num(yOf(v))}" r="2.5"><title>${buckets[i]?.start ?? ""}: ${formatCount(v)} ${unit}</title></circle>`,
	);
	const first = buckets[0]?.start ?? "";
	const last = buckets[n - 1]?.start ?? "";
	const desc = `${title}, ${first} to ${last} (UTC days; the last one still in progress): ${range(values)}.`;
	return svg(id, title, desc, html`${frame(p, yTicks, formatCount)}${shapes}${points}${xLabels(p, buckets)}`);
}

function dailyCard(id: string, heading: string, lede: string, series: Series, field: "installations" | "sessions", unit: string): Html {
	const rows = series.buckets.map((b) => html`<tr data-start="${b.start}"><th scope="row">${b.start}</th>${valueCell([field], b[field])}</tr>`);
	return card(id, heading, lede, lineChart(`${id}-svg`, heading, series, field, unit), table(series.series, `${heading}: the numbers`, ["Day (UTC)", unit.charAt(0).toUpperCase() + unit.slice(1)], rows));
}

/** The versions to draw, newest first: those published on some day of the window. */
function versionsOf(series: Series): string[] {
	const seen = new Set<string>();
	for (const b of series.buckets) for (const [v, n] of Object.entries(b.environment[VERSION] ?? {})) if (n !== null) seen.add(v);
	return [...seen].sort((a, b) => compareVersions(b, a));
}

interface Band {
	readonly key: string;
	readonly label: string;
	readonly className: string;
	/** Installations in the band per bucket (null: the bucket is not drawn). */
	readonly values: readonly (number | null)[];
}

/** Bottom to top: what is not shown, older versions together, then each drawn version, newest on top. */
export function versionBands(series: Series): Band[] {
	const versions = versionsOf(series);
	const drawn = versions.slice(0, VERSION_BANDS);
	const older = versions.slice(VERSION_BANDS);
	const active = series.buckets.map((b) => (b.installations !== null && b.installations > 0 ? b.installations : null));
	const count = (b: SeriesBucket, v: string): number => b.environment[VERSION]?.[v] ?? 0;
	const bands: Band[] = [
		{
			key: "",
			label: "not shown (fewer installations than the threshold, or withheld)",
			className: "v-hidden",
			values: series.buckets.map((b, i) => {
				const a = active[i];
				if (a === null || a === undefined) return null;
				return a - versions.reduce((n, v) => n + count(b, v), 0);
			}),
		},
	];
	if (older.length) {
		bands.push({ key: "older", label: `older versions (${older.join(", ")})`, className: "v-older", values: series.buckets.map((b, i) => (active[i] === null ? null : older.reduce((n, v) => n + count(b, v), 0))) });
	}
	[...drawn].reverse().forEach((v, i) => {
		bands.push({ key: v, label: v, className: `v${drawn.length - 1 - i}`, values: series.buckets.map((b, j) => (active[j] === null ? null : count(b, v))) });
	});
	return bands;
}

const pct = (part: number, whole: number): string => `${Math.round((100 * part) / whole)}%`;

function adoptionCard(id: string, series: Series): Html {
	const buckets = series.buckets;
	const n = buckets.length;
	const p = plotOf(40);
	const bands = versionBands(series);
	const active = buckets.map((b) => (b.installations !== null && b.installations > 0 ? b.installations : null));
	const yOf = (share: number): number => TOP + p.height - share * p.height;
	const shapes: Html[] = [];
	for (const run of runs(active)) {
		const lower = new Map(run.map((i) => [i, 0]));
		for (const band of bands) {
			const bottom = run.map((i) => lower.get(i) ?? 0);
			const top = run.map((i, k) => (bottom[k] ?? 0) + (band.values[i] ?? 0) / (active[i] ?? 1));
			run.forEach((i, k) => lower.set(i, top[k] ?? 0));
			if (run.every((i) => (band.values[i] ?? 0) === 0)) continue;
			// A single day is drawn as a thin column.
			const xs = run.length === 1 ? [xOf(p, run[0] ?? 0, n) - 3, xOf(p, run[0] ?? 0, n) + 3] : run.map((i) => xOf(p, i, n));
			const tops = run.length === 1 ? [top[0] ?? 0, top[0] ?? 0] : top;
			const bottoms = run.length === 1 ? [bottom[0] ?? 0, bottom[0] ?? 0] : bottom;
			const upper = xs.map((x, k) => `${num(x)},${num(yOf(tops[k] ?? 0))}`);
			const down = xs.map((x, k) => `${num(x)},${num(yOf(bottoms[k] ?? 0))}`).reverse();
			shapes.push(html`<polygon class="band ${band.className}" data-key="${band.key}" points="${[...upper, ...down].join(" ")}"><title>${band.label}</title></polygon>`);
		}
	}
	const latest = [...buckets.keys()].reverse().find((i) => active[i] !== null);
	const latestText =
		latest === undefined
			? "no day published yet"
			: `on ${buckets[latest]?.start ?? ""}, ${bands
					.filter((b) => b.key !== "" && (b.values[latest] ?? 0) > 0)
					.reverse()
					.map((b) => `${b.key === "older" ? "older versions" : b.key} ${pct(b.values[latest] ?? 0, active[latest] ?? 1)}`)
					.join(", ") || "no version shown"}`;
	const title = "VoiceMode version adoption";
	const desc = `Share of each week's active installations per VoiceMode version (weeks from Monday, UTC), newest version on top, ${buckets[0]?.start ?? ""} to ${buckets[n - 1]?.start ?? ""}: ${latestText}.`;
	const figure = svg(`${id}-svg`, title, desc, html`${frame(p, [0, 0.5, 1], (t) => `${t * 100}%`)}${shapes}${xLabels(p, buckets, "w/c ")}`);
	const legend = html`<ul class="legend">${[...bands].reverse().map((b) => html`<li><span class="swatch ${b.className}" aria-hidden="true"></span>${b.label}</li>`)}</ul>`;
	const versions = versionsOf(series);
	const rows = buckets.map((b) => {
		const a = active[buckets.indexOf(b)];
		const share = (v: number | null): string => (v === null ? "—" : a ? `${formatCount(v)} (${pct(v, a)})` : formatCount(v));
		return html`<tr data-start="${b.start}"><th scope="row">${b.start}</th>${valueCell(["installations"], b.installations)}${versions.map((v) => {
			const value = b.environment[VERSION]?.[v] ?? null;
			return valueCell(["environment", VERSION, v], value, share(value));
		})}</tr>`;
	});
	const numbers = table(series.series, `${title}: installations per version and week`, ["Week from (Monday)", "Active", ...versions], rows);
	return card(id, title, "Share of the week's active installations on each VoiceMode version, newest on top; grey is what is not published.", figure, numbers, legend);
}

/**
 * The median duration bin of a week's sessions, when the published numbers settle it:
 * the first bin whose cumulative count reaches half the sessions, the same whichever
 * withheld bins the unpublished sessions fall into. Null otherwise.
 */
export function medianBin(bucket: SeriesBucket): number | null {
	const bins = DURATION.bins.map((bin) => bucket.metrics[DURATION.name]?.bins?.[bin] ?? null);
	const shown = bins.reduce<number>((a, v) => a + (v ?? 0), 0);
	const total = bucket.sessions ?? (bins.every((v) => v !== null) ? shown : null);
	if (total === null || total === 0) return null;
	const unknown = total - shown;
	let low = 0;
	let high = 0;
	let lowAt: number | null = null;
	let highAt: number | null = null;
	bins.forEach((v, i) => {
		low += v ?? 0;
		// The most the cumulative count can be here: every unpublished session in a withheld bin at or below.
		high = bins.slice(0, i + 1).some((x) => x === null) ? low + unknown : low;
		if (lowAt === null && low >= total / 2) lowAt = i;
		if (highAt === null && high >= total / 2) highAt = i;
	});
	return lowAt !== null && lowAt === highAt ? lowAt : null;
}

function medianCard(id: string, series: Series): Html {
	const buckets = series.buckets;
	const n = buckets.length;
	const p = plotOf(58);
	const medians = buckets.map(medianBin);
	const levels = DURATION.bins.length;
	const yOf = (bin: number): number => TOP + p.height - ((bin + 0.5) / levels) * p.height;
	const grid = html`${DURATION.bins.map((bin, i) => html`<line class="grid" x1="${p.left}" x2="${W - 8}" y1="${num(yOf(i))}" y2="${num(yOf(i))}"></line><text class="axis" x="${p.left - 5}" y="${num(yOf(i) + 4)}" text-anchor="end">${bin}</text>`)}`;
	const lines = runs(medians).map((run) => {
		const pts = run.flatMap((i, k) => {
			const x = xOf(p, i, n);
			const y = yOf(medians[i] ?? 0);
			const prev = k > 0 ? yOf(medians[run[k - 1] ?? 0] ?? 0) : null;
			return prev === null ? [`${num(x)},${num(y)}`] : [`${num(x)},${num(prev)}`, `${num(x)},${num(y)}`];
		});
		return html`<polyline class="line step" points="${pts.join(" ")}"></polyline>`;
	});
	const points = medians.map((m, i) =>
		m === null ? "" : html`<circle class="point" data-start="${buckets[i]?.start ?? ""}" data-value="${m}" cx="${num(xOf(p, i, n))}" cy="${num(yOf(m))}" r="3"><title>Week of ${buckets[i]?.start ?? ""}: median ${DURATION.bins[m] ?? ""}</title></circle>`,
	);
	const change = (i: number): string => {
		const m = medians[i];
		const before = i > 0 ? medians[i - 1] : null;
		if (m === null || m === undefined || before === null || before === undefined) return "—";
		const d = m - before;
		return d === 0 ? "same" : `${d > 0 ? "longer" : "shorter"} by ${plural(Math.abs(d), "bin")}`;
	};
	const known = medians.map((m, i) => [m, i] as const).filter(([m]) => m !== null);
	const [lastMedian, lastIndex] = known[known.length - 1] ?? [null, -1];
	const shifts = medians.filter((m, i) => i > 0 && m !== null && medians[i - 1] !== null && m !== medians[i - 1]).length;
	const summary =
		lastMedian === null
			? "no week's median can be told from the published numbers yet"
			: `${DURATION.bins[lastMedian] ?? ""} in the week of ${buckets[lastIndex]?.start ?? ""} (${change(lastIndex)} than the week before); ${plural(shifts, "shift")} in the window`;
	const title = "Median session length, by week";
	const desc = `The session-length bin that holds the median session of each week (Monday to Sunday, UTC): ${summary}.`;
	const figure = svg(`${id}-svg`, title, desc, html`${grid}${lines}${points}${xLabels(p, buckets, "w/c ")}`, " median");
	const rows = buckets.map(
		(b, i) =>
			html`<tr data-start="${b.start}"><th scope="row">${b.start}</th>${valueCell(["sessions"], b.sessions)}<td class="num" data-median="${medians[i] ?? ""}">${medians[i] === null ? "—" : (DURATION.bins[medians[i] ?? 0] ?? "")}</td><td class="num">${change(i)}</td></tr>`,
	);
	const numbers = table(series.series, `${title}: the numbers`, ["Week from (Monday)", "Sessions", "Median bin", "Change"], rows);
	return card(id, title, "Which length bin the middle session of each week falls in, and when that shifts. — : the published numbers do not settle it.", figure, numbers);
}

/** The trends section of the page. */
export function renderTrends(view: TrendsView): Html {
	const { day, week, minInstallations } = view;
	return html`<section aria-labelledby="trends"><h2 id="trends">Trends</h2>
<p class="section-lede">Per UTC day and per week, from the daily history (kept two years). Every number follows the same rule as below: backed by at least ${plural(minInstallations, "installation")}, and none withheld can be worked out from the rest of its day or week. The last day and week are still in progress.</p>
<div class="grid trends">${[
		dailyCard("trend-installations", "Active installations per day", "Installations that sent a report for the day.", day, "installations", "installations"),
		dailyCard("trend-sessions", "Sessions per day", "Voice sessions that ended in the day's reports.", day, "sessions", "sessions"),
		// By week: a version's share of a day is often too small a group to publish.
		adoptionCard("trend-versions", week),
		medianCard("trend-median", week),
	]}</div></section>`;
}
