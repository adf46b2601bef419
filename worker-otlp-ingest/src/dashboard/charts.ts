/**
 * One dashboard chart: a real <table> (label, bar, count, share) whose bar column is an
 * inline SVG, one <rect class="bar"> per row. The table is the accessible form of the
 * chart and still reads as numbers where SVG or CSS is missing; the bars are decoration
 * (aria-hidden, with a <title> tooltip).
 *
 * A cell missing from the stats is either empty or suppressed, and the page cannot tell
 * which: it is shown as "—", never as 0. Histogram bins come from the contract, so every
 * bin has a row; for value sets (providers, OS, …) the rows are the published values
 * and the contract's other values are named below the table as not shown.
 *
 * Machine-readable hooks, used by the tests and by anyone scraping the page:
 * `table[data-path]` is the JSON path of the numbers in /v1/stats, `tr[data-key]`
 * carries `data-count` (published) or `data-suppressed`.
 */
import { formatCount, formatShare, html, plural, type Html } from "./html";

export interface ChartSpec {
	/** Unique on the page; used for element IDs. */
	readonly id: string;
	/** Where `counts` sit in the /v1/stats object, e.g. ["metrics", name, "bins"]. */
	readonly path: readonly string[];
	readonly title: string;
	readonly description?: string | undefined;
	/** Heading of the label column. */
	readonly keyHeading: string;
	/** What the numbers count. */
	readonly unit: "sessions" | "installations";
	/** The published cells, in /v1/stats order. */
	readonly counts: Readonly<Record<string, number>>;
	/** Histogram bins: each gets a row even when not published. */
	readonly fixedKeys?: readonly string[] | undefined;
	/** A closed value set: the values not published are listed under the table. */
	readonly possible?: readonly string[] | undefined;
}

const BAR_HEIGHT = 14;

function rowKeys(spec: ChartSpec): string[] {
	const published = Object.keys(spec.counts);
	if (!spec.fixedKeys) return published;
	return [...spec.fixedKeys, ...published.filter((k) => !spec.fixedKeys?.includes(k))];
}

function bar(key: string, count: number | undefined, max: number, tooltip: string): Html {
	const width = count === undefined || max === 0 ? 0 : Math.max((100 * count) / max, count > 0 ? 0.5 : 0);
	return html`<svg class="bars" width="100%" height="${BAR_HEIGHT}" aria-hidden="true" focusable="false"><rect class="track" width="100%" height="${BAR_HEIGHT}" rx="3"></rect><rect class="bar" data-key="${key}"${count === undefined ? html` data-suppressed=""` : ""} width="${width.toFixed(2)}%" height="${BAR_HEIGHT}" rx="3"><title>${tooltip}</title></rect></svg>`;
}

function row(spec: ChartSpec, key: string, total: number, max: number, minInstallations: number): Html {
	const count = spec.counts[key];
	if (count === undefined) {
		const tooltip = `${key}: not published (no ${spec.unit}, or fewer than ${plural(minInstallations, "installation")})`;
		return html`<tr data-key="${key}" data-suppressed="" class="suppressed"><th scope="row">${key}</th><td class="bar-cell">${bar(key, undefined, max, tooltip)}</td><td class="num">—</td><td class="num">—</td></tr>`;
	}
	const share = formatShare(count, total);
	const tooltip = `${key}: ${formatCount(count)} ${spec.unit} (${share} of those shown)`;
	return html`<tr data-key="${key}" data-count="${count}"><th scope="row">${key}</th><td class="bar-cell">${bar(key, count, max, tooltip)}</td><td class="num">${formatCount(count)}</td><td class="num">${share}</td></tr>`;
}

function notes(spec: ChartSpec, keys: readonly string[], total: number, minInstallations: number): Html {
	const lines: Html[] = [];
	if (total > 0) lines.push(html`<p>Shares are of the ${formatCount(total)} ${spec.unit} shown.</p>`);
	if (spec.fixedKeys) {
		if (keys.some((k) => spec.counts[k] === undefined)) {
			lines.push(html`<p>— no ${spec.unit}, or fewer than ${plural(minInstallations, "installation")}: not published.</p>`);
		}
	} else if (spec.possible) {
		const hidden = spec.possible.filter((v) => spec.counts[v] === undefined);
		if (hidden.length > 0) {
			lines.push(html`<p>Not shown (none, or fewer than ${plural(minInstallations, "installation")}): ${hidden.join(", ")}.</p>`);
		}
	} else {
		lines.push(html`<p>Values with fewer than ${plural(minInstallations, "installation")} are not shown.</p>`);
	}
	return html`<div class="notes">${lines}</div>`;
}

/** A chart section: heading, description, table with bars, and its notes. */
export function renderChart(spec: ChartSpec, minInstallations: number): Html {
	const keys = rowKeys(spec);
	const values = Object.values(spec.counts);
	const total = values.reduce((a, b) => a + b, 0);
	const max = Math.max(0, ...values);
	const titleId = `chart-${spec.id}`;
	const body =
		keys.length > 0
			? keys.map((k) => row(spec, k, total, max, minInstallations))
			: html`<tr class="empty"><td colspan="4">Nothing published for this window.</td></tr>`;
	return html`<section class="chart" aria-labelledby="${titleId}">
<h3 id="${titleId}">${spec.title}</h3>
${spec.description ? html`<p class="desc">${spec.description}</p>` : ""}
<table data-path="${JSON.stringify(spec.path)}" aria-labelledby="${titleId}">
<thead><tr><th scope="col">${spec.keyHeading}</th><th scope="col" class="bar-cell"><span class="sr-only">Bar</span></th><th scope="col" class="num">${capitalized(spec.unit)}</th><th scope="col" class="num">Share</th></tr></thead>
<tbody>${body}</tbody>
</table>
${notes(spec, keys, total, minInstallations)}
</section>`;
}

function capitalized(word: string): string {
	return word.charAt(0).toUpperCase() + word.slice(1);
}
