/**
 * The public usage dashboard (GET /): one self-contained HTML page rendered on the
 * server from the same `Stats` object /v1/stats serializes, so the page and the JSON
 * can never disagree. Pure: stats, threshold and clock in, a string out — no `env`, no
 * I/O. No JavaScript, no external resource; the stylesheet is inline (style.ts)
 * and every value goes through the escaping `html` tag.
 *
 * What is charted comes from the stats object and the contract (bins, closed value
 * sets, descriptions); the only words restated here are the human titles below, keyed by
 * contract names (a test fails if one stops naming a contract key).
 */
import { CONTRACT, DURATION, EXCHANGES, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "../contract";
import { renderChart, type ChartSpec } from "./charts";
import { descriptionOf, renderCollected } from "./collected";
import { bundledMarkup, formatCount, formatUtc, html, plural, type Html } from "./html";
import { DASHBOARD_CSS } from "./style";
import { renderTrends, type TrendsView } from "./trends";
import { DEFAULT_DAYS, MAX_DAYS, type HistogramStats, type ProviderStats, type Stats } from "../stats/window";

/** The windows the page offers (the only `days` values it accepts). */
export const WINDOWS: readonly number[] = [7, DEFAULT_DAYS, MAX_DAYS];

/** Human titles for contract keys (metrics, provider roles, resource attributes). */
export const TITLES: ReadonlyMap<string, string> = new Map([
	[DURATION.name, "Session length"],
	[EXCHANGES.name, "Exchanges per session"],
	[PROVIDERS, "Speech providers"],
	[TRANSPORT, "Transport"],
	["tts", "Text to speech"],
	["stt", "Speech to text"],
	["service.version", "VoiceMode version"],
	["os.type", "Operating system"],
	["voicemode.install.method", "Install method"],
	["voicemode.mcp.host", "MCP host"],
	["voicemode.exec.source", "Started from"],
]);

export interface DashboardView {
	readonly stats: Stats;
	/** STATS_MIN_INSTALLATIONS in force, stated on the page. */
	readonly minInstallations: number;
	readonly nowMs: number;
	/** The window's day and week series (/v1/stats?series=), drawn as trends when anything is published. */
	readonly trends?: TrendsView | undefined;
}

const STYLE = bundledMarkup(DASHBOARD_CSS);

const title = (key: string): string => TITLES.get(key) ?? key;
const slug = (key: string): string => key.replace(/[^a-z0-9]+/gi, "-").toLowerCase();

function valuesOf(key: string): readonly string[] | undefined {
	return (CONTRACT.pointAttributes.get(key) ?? CONTRACT.resourceAttributes.get(key))?.values ?? undefined;
}

function histogramCharts(stats: Stats): ChartSpec[] {
	return [...CONTRACT.metrics.values()].flatMap((spec) => {
		if (spec.instrument !== "histogram") return [];
		const metric = stats.metrics[spec.name] as HistogramStats | undefined;
		return [
			{
				id: slug(spec.name),
				path: ["metrics", spec.name, "bins"],
				title: title(spec.name),
				description: descriptionOf(spec.name),
				keyHeading: "Bin",
				unit: "sessions",
				counts: metric?.bins ?? {},
				fixedKeys: spec.bins,
			},
		];
	});
}

function transportChart(stats: Stats): ChartSpec {
	return {
		id: slug(TRANSPORT),
		path: ["transport"],
		title: title(TRANSPORT),
		description: descriptionOf(TRANSPORT),
		keyHeading: "Transport",
		unit: "sessions",
		counts: stats.transport,
		possible: valuesOf(TRANSPORT),
	};
}

function providerCharts(stats: Stats): ChartSpec[] {
	const providers = (stats.metrics[PROVIDERS] ?? {}) as ProviderStats;
	const contractRoles = valuesOf(PROVIDER_ROLE) ?? [];
	const roles = [...contractRoles, ...Object.keys(providers).filter((r) => !contractRoles.includes(r))];
	return roles.map((role) => ({
		id: `${slug(PROVIDERS)}-${slug(role)}`,
		path: ["metrics", PROVIDERS, role],
		title: title(role),
		keyHeading: "Provider",
		unit: "sessions",
		counts: providers[role] ?? {},
		possible: valuesOf(PROVIDER_NAME),
	}));
}

function environmentCharts(stats: Stats): ChartSpec[] {
	return Object.entries(stats.environment).map(([key, counts]) => ({
		id: slug(key),
		path: ["environment", key],
		title: title(key),
		description: descriptionOf(key),
		keyHeading: "Value",
		unit: "installations",
		counts,
		possible: valuesOf(key),
	}));
}

function windowNav(days: number): Html {
	const links = WINDOWS.map((d) => html`<li><a href="?days=${d}"${d === days ? html` aria-current="page"` : ""}>${d} days</a></li>`);
	return html`<nav aria-label="Time window"><ul class="windows">${links}</ul></nav>`;
}

function stat(name: string, label: string, value: number): Html {
	return html`<div><dt>${label}</dt><dd data-stat="${name}" data-value="${value}">${formatCount(value)}</dd></div>`;
}

function notice({ stats, minInstallations }: DashboardView): Html | "" {
	if (stats.reports === 0) {
		return html`<div class="notice" role="status"><h3>No reports in the last ${stats.days} days yet</h3>
<p>VoiceMode's usage statistics are off unless a user opts in. Charts appear here once opted-in installations have sent their daily report; until then, this is what a report may contain and how the numbers will be published.</p></div>`;
	}
	if (stats.installations < minInstallations) {
		return html`<div class="notice" role="status"><h3>Too few installations to break down yet</h3>
<p>${formatCount(stats.installations)} of the ${minInstallations} installations needed for any number below have reported in the last ${stats.days} days, so every breakdown is withheld for now.</p></div>`;
	}
	return "";
}

function chartSection(id: string, heading: string, lede: string, charts: readonly ChartSpec[], min: number): Html {
	return html`<section aria-labelledby="${id}"><h2 id="${id}">${heading}</h2><p class="section-lede">${lede}</p>
<div class="grid">${charts.map((c) => renderChart(c, min))}</div></section>`;
}

/** When the numbers were last brought up to date (machine-readable as data-stat="as_of"). */
function updated(asOf: string | null): Html {
	if (asOf === null) return html`<span data-stat="as_of" data-value="">not counted yet (the counts are updated hourly)</span>`;
	return html`updated <time datetime="${asOf}" data-stat="as_of" data-value="${asOf}">${formatUtc(Date.parse(asOf))}</time> (hourly)`;
}

function overview(view: DashboardView): Html {
	const { stats, minInstallations, nowMs } = view;
	return html`<section aria-labelledby="window" class="overview">
<div class="window"><h2 id="window" data-stat="days" data-value="${stats.days}">Last ${stats.days} days</h2>
<p class="asof">Reports whose period ended after ${formatUtc(nowMs - stats.days * 86_400_000)} · ${updated(stats.as_of)}</p></div>
<dl class="totals">${stat("installations", "Installations", stats.installations)}${stat("reports", "Reports", stats.reports)}
<div><dt>Smallest published number</dt><dd class="rule">backed by at least <strong data-stat="min-installations" data-value="${minInstallations}">${plural(minInstallations, "installation")}</strong></dd></div></dl>
${notice(view)}
</section>`;
}

function charts(view: DashboardView): Html {
	const { stats, minInstallations: min } = view;
	return html`${chartSection("sessions", "Sessions", "Each session is counted once, in the report for the period in which it ended.", [...histogramCharts(stats), transportChart(stats)], min)}
${chartSection("providers", title(PROVIDERS), descriptionOf(PROVIDERS) ?? "", providerCharts(stats), min)}
${chartSection("installations", "Installations", "Each installation counts once per fact, with the value from its latest report.", environmentCharts(stats), min)}`;
}

function protection(min: number): Html {
	return html`<section class="prose" aria-labelledby="suppression"><h2 id="suppression">How the numbers are protected</h2>
<p>A number is published only when at least <strong>${plural(min, "installation")}</strong> contributed to it (<code>STATS_MIN_INSTALLATIONS</code> = ${min}). Anything backed by fewer is left out and shown as —, never as 0; so — can also mean there was none. The totals of installations and reports are always shown. Shares are of the numbers shown in each chart, so they leave out what was withheld.</p>
<p>Session lengths and exchange counts never leave a user's machine as exact values: the client sends only how many sessions fell into each bin, per period of whole hours.</p></section>`;
}

const OPT_OUT = html`<section class="prose" aria-labelledby="opt-out"><h2 id="opt-out">How to opt out</h2>
<p>Nothing is sent unless you opted in. To stop sending at any time, run <code>voicemode-otel disable</code> (or use the <code>telemetry_set_preference</code> MCP tool), or set <code>DO_NOT_TRACK=1</code> in VoiceMode's environment. <code>voicemode-otel forget</code> also asks this server to delete every report your installation sent. <code>voicemode-otel preview</code> shows the exact report before anything is sent.</p></section>`;

function page(heading: string, body: Html): string {
	return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="description" content="Anonymous, opt-in usage statistics of VoiceMode: session lengths, exchanges, speech providers and platforms, published only in aggregate.">
<title>${heading}</title>
<style>${STYLE}</style>
</head>
<body><div class="wrap">
${body}
</div></body>
</html>
`.toString();
}

/** The trends, when the window's series publish anything. */
function trendsOf({ trends }: DashboardView): Html | "" {
	if (!trends) return "";
	const any = [...trends.day.buckets, ...trends.week.buckets].some((b) => b.installations !== null);
	return any ? renderTrends(trends) : "";
}

/** The dashboard for one window. */
export function renderDashboard(view: DashboardView): string {
	const { stats, minInstallations } = view;
	const body = html`<header class="top"><div><p class="eyebrow">VoiceMode · opt-in usage statistics</p><h1>How VoiceMode is used</h1>
<p class="lede">Anonymous counts from VoiceMode installations whose users chose to share them, published as coarsely as they are collected: lengths only as bins, and no number that fewer than ${plural(minInstallations, "installation")} contributed to.</p></div>
${windowNav(stats.days)}</header>
<main>
${overview(view)}
${trendsOf(view)}
${stats.reports > 0 ? charts(view) : ""}
${protection(minInstallations)}
${renderCollected("collected")}
${OPT_OUT}
</main>
<footer><p>The same numbers as JSON: <a href="v1/stats?days=${stats.days}">/v1/stats?days=${stats.days}</a>, per day <a href="v1/stats?series=day&amp;days=${stats.days}">/v1/stats?series=day&amp;days=${stats.days}</a> and per week <a href="v1/stats?series=week&amp;days=${stats.days}">/v1/stats?series=week&amp;days=${stats.days}</a>. This page uses no cookies, no scripts and no third-party resources.</p></footer>`;
	return page(`VoiceMode usage · last ${stats.days} days`, body);
}

/** A short page for a request the dashboard cannot answer (fixed texts only). */
export function renderProblem(kind: "bad-window" | "unavailable"): string {
	const [heading, text] =
		kind === "bad-window"
			? ["Unknown time window", `This page shows the last ${WINDOWS.join(", ").replace(/, (\d+)$/, " or $1")} days.`]
			: ["Statistics are unavailable right now", "The database did not answer. Please try again in a minute."];
	const body = html`<header class="top"><div><p class="eyebrow">VoiceMode · opt-in usage statistics</p><h1>${heading}</h1><p class="lede">${text}</p></div>
${windowNav(0)}</header>`;
	return page(heading, body);
}
