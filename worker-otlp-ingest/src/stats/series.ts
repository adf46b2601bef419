/**
 * Time series for GET /v1/stats?series=day|week (and the dashboard's trends): per UTC
 * day or week of the window, the active installations, reports and sessions, sessions
 * per bin, provider and transport, and installations per version, OS and MCP host —
 * read from the history (read.ts readSeries), shaped and suppressed here. Pure.
 *
 * Every bucket has every cell (the contract's bins and closed values; versions
 * published in any bucket of the response): a number, or null when withheld. A cell is
 * withheld when fewer than `minInstallations` installations back it, or as a
 * complement (suppression.ts) so that no withheld cell can be computed from the same
 * bucket's published numbers. Buckets share no total in one response, so one bucket's
 * numbers cannot be combined with another's to compute a withheld cell either; what
 * different responses allow together is the residual risk docs/privacy.md describes.
 */
import { CONTRACT, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "../contract";
import { GRAINS, HISTORY_DAYS, SERIES_FACTS, bucketStart, type Grain, type SeriesRow } from "../db/buckets";
import { INSTALLATION_COLUMNS } from "../db/rows";
import { protect, type Candidate, type Relation } from "./suppression";
import { compareVersions } from "./versions";

/** A published number, or null: withheld (fewer installations than the threshold, or a complement) or empty. */
export type Cell = number | null;

export interface SeriesBucket {
	/** First UTC day of the bucket (YYYY-MM-DD); for weeks, a Monday. */
	readonly start: string;
	/** Installations with a report in the bucket. */
	readonly installations: Cell;
	readonly reports: Cell;
	readonly sessions: Cell;
	readonly metrics: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, Cell>>>>>>;
	/** Sessions per transport. */
	readonly transport: Readonly<Record<string, Cell>>;
	/** Installations per value of the kept facts ("unknown": not sent). */
	readonly environment: Readonly<Record<string, Readonly<Record<string, Cell>>>>;
}

export interface Series {
	readonly days: number;
	readonly series: Grain;
	/** As in Stats: every report stored before this is counted. */
	readonly as_of: string | null;
	/** Oldest first; the last one is the bucket still in progress. */
	readonly buckets: readonly SeriesBucket[];
}

/** The `series` query parameter: absent → null (no series); "day" or "week"; anything else → "invalid". */
export function grainFrom(value: string | null): Grain | null | "invalid" {
	if (value === null) return null;
	return (GRAINS as readonly string[]).includes(value) ? (value as Grain) : "invalid";
}

/** How far back a series may reach: the history's two years. */
export const SERIES_MAX_DAYS = HISTORY_DAYS;

/** Bucket starts (Unix seconds) covering the `days` UTC days up to and including the one of `nowMs`. */
export function bucketStarts(grain: Grain, nowMs: number, days: number): number[] {
	const now = Math.floor(nowMs / 1000);
	const last = bucketStart(grain, now);
	const first = bucketStart(grain, bucketStart("day", now) - (days - 1) * 86_400);
	const step = grain === "day" ? 86_400 : 7 * 86_400;
	const starts: number[] = [];
	for (let s = first; s <= last; s += step) starts.push(s);
	return starts;
}

const UNKNOWN = "unknown";
/**
 * Cell ids: the cell's keys joined by a character no key can hold. Built with template
 * strings, not arrays: a 90-day series makes tens of thousands of them.
 */
const SEP = "\u001f";
const INSTALLATIONS_ID = "installations";
const REPORTS_ID = "reports";
const SESSIONS_ID = "sessions";
const binId = (metric: string, bin: string): string => `b${SEP}${metric}${SEP}${bin}`;
const providerId = (metric: string, role: string, name: string): string => `p${SEP}${metric}${SEP}${role}${SEP}${name}`;
const transportId = (t: string): string => `t${SEP}${t}`;
const factId = (key: string, value: string): string => `f${SEP}${key}${SEP}${value}`;
const closed = (key: string): readonly string[] =>
	CONTRACT.pointAttributes.get(key)?.values ?? CONTRACT.resourceAttributes.get(key)?.values ?? [];
const COLUMN_KEYS: ReadonlyMap<string, string> = new Map(SERIES_FACTS.map((key) => [INSTALLATION_COLUMNS[key] ?? key, key]));
const HISTOGRAMS = [...CONTRACT.metrics.values()].filter((m) => m.instrument === "histogram");

/** The cell a history row publishes (the 'reports' row carries both the installation and the report count). */
export function cellIdOf(row: SeriesRow): string | null {
	switch (row.kind) {
		case "reports":
			return INSTALLATIONS_ID;
		case "sessions":
			return SESSIONS_ID;
		case "bin":
			return binId(row.name, row.a);
		case "provider":
			return providerId(row.name, row.a, row.b);
		case "transport":
			return transportId(row.a);
		case "fact": {
			const key = COLUMN_KEYS.get(row.name);
			return key === undefined ? null : factId(key, row.a === "" ? UNKNOWN : row.a);
		}
	}
}

/** Every cell a bucket lists whatever its rows (the contract's bins and closed values), each at zero. */
const EMPTY: ReadonlyMap<string, Candidate> = new Map(
	[
		INSTALLATIONS_ID,
		REPORTS_ID,
		SESSIONS_ID,
		...HISTOGRAMS.flatMap((h) => h.bins.map((bin) => binId(h.name, bin))),
		...closed(PROVIDER_ROLE).flatMap((role) => closed(PROVIDER_NAME).map((name) => providerId(PROVIDERS, role, name))),
		...closed(TRANSPORT).map((t) => transportId(t)),
		...SERIES_FACTS.flatMap((key) => closed(key).map((v) => factId(key, v))),
	].map((id) => [id, { value: 0, installations: 0 }]),
);

const CLOSED_FACT_IDS: ReadonlyMap<string, readonly string[]> = new Map(SERIES_FACTS.map((key) => [key, closed(key).map((v) => factId(key, v))]));

/** The relations among the listed cells; fact relations get each bucket's other values added. */
const SESSION_RELATIONS: readonly Relation[] = [
	...HISTOGRAMS.map((h) => ({ total: SESSIONS_ID, parts: h.bins.map((bin) => binId(h.name, bin)) })),
	{ total: SESSIONS_ID, parts: closed(TRANSPORT).map((t) => transportId(t)) },
	// A session with a fallback provider counts twice, so these are not exact; applied anyway, to be safe.
	...closed(PROVIDER_ROLE).map((role) => ({ total: SESSIONS_ID, parts: closed(PROVIDER_NAME).map((n) => providerId(PROVIDERS, role, n)) })),
];

/**
 * One bucket's candidates and relations, from its history rows. Every cell the response
 * lists exists, empty ones at zero: an empty cell is a member of its relations too.
 */
export function bucketTable(rows: readonly SeriesRow[]): { cells: Map<string, Candidate>; relations: Relation[] } {
	const cells = new Map(EMPTY);
	const facts = new Map<string, string[]>(SERIES_FACTS.map((key) => [key, [...(CLOSED_FACT_IDS.get(key) ?? [])]]));
	// One row per key and bucket, so each row sets its cell (over the empty one, if listed).
	for (const r of rows) {
		const id = cellIdOf(r);
		if (id === null) continue;
		if (r.kind === "reports") {
			cells.set(id, { value: r.installations, installations: r.installations });
			cells.set(REPORTS_ID, { value: r.total, installations: r.installations });
			continue;
		}
		if (r.kind === "fact" && !cells.has(id)) facts.get(COLUMN_KEYS.get(r.name) ?? "")?.push(id);
		cells.set(id, { value: r.kind === "fact" ? r.installations : r.total, installations: r.installations });
	}
	const relations: Relation[] = [...SERIES_FACTS.map((key) => ({ total: INSTALLATIONS_ID, parts: facts.get(key) ?? [] })), ...SESSION_RELATIONS];
	return { cells, relations };
}

/** The listed cells of the fixed part of a bucket, in output order: [name in the JSON, cell id]. */
const OUTPUT = {
	histograms: HISTOGRAMS.map((h) => ({ name: h.name, ids: h.bins.map((bin) => [bin, binId(h.name, bin)] as const) })),
	roles: closed(PROVIDER_ROLE).map((role) => ({ role, ids: closed(PROVIDER_NAME).map((n) => [n, providerId(PROVIDERS, role, n)] as const) })),
	transports: closed(TRANSPORT).map((t) => [t, transportId(t)] as const),
};

/** Version order for service.version (oldest first, "unknown" last); contract order for closed sets. */
function orderedValues(key: string, values: Iterable<string>): string[] {
	const contract = closed(key);
	const rank = (v: string): number => (v === UNKNOWN ? Infinity : contract.includes(v) ? contract.indexOf(v) : contract.length);
	return [...new Set(values)].sort((a, b) => rank(a) - rank(b) || (contract.length === 0 ? compareVersions(a, b) : a < b ? -1 : a > b ? 1 : 0));
}

const isoDay = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 10);

/** Pure: the history rows of the window's buckets → the published series. `asOf` in Unix seconds. */
export function computeSeries(
	rows: readonly SeriesRow[],
	grain: Grain,
	days: number,
	nowMs: number,
	minInstallations: number,
	asOf: number | null = null,
): Series {
	const byStart = new Map<number, SeriesRow[]>();
	for (const r of rows) {
		const bucket = byStart.get(r.start);
		if (bucket) bucket.push(r);
		else byStart.set(r.start, [r]);
	}
	const tables = bucketStarts(grain, nowMs, days).map((start) => {
		const { cells, relations } = bucketTable(byStart.get(start) ?? []);
		const { published } = protect(cells, relations, minInstallations);
		return { start, cells, published };
	});
	// Listed fact values: the closed set, plus any value published in some bucket of this response.
	const listed = SERIES_FACTS.map((key) => {
		const prefix = factId(key, "");
		const shown = tables.flatMap((t) => [...t.published].filter((id) => id.startsWith(prefix)).map((id) => id.slice(prefix.length)));
		return { key, values: orderedValues(key, [...closed(key), ...shown]).map((v) => [v, factId(key, v)] as const) };
	});
	const buckets = tables.map(({ start, cells, published }): SeriesBucket => {
		const cell = (id: string): Cell => (published.has(id) ? (cells.get(id)?.value ?? null) : null);
		const pick = (ids: readonly (readonly [string, string])[]): Record<string, Cell> => {
			const out: Record<string, Cell> = {};
			for (const [name, id] of ids) out[name] = cell(id);
			return out;
		};
		const metrics: Record<string, Record<string, Record<string, Cell>>> = {};
		for (const h of OUTPUT.histograms) metrics[h.name] = { bins: pick(h.ids) };
		const providers: Record<string, Record<string, Cell>> = {};
		for (const r of OUTPUT.roles) providers[r.role] = pick(r.ids);
		metrics[PROVIDERS] = providers;
		const environment: Record<string, Record<string, Cell>> = {};
		for (const { key, values } of listed) environment[key] = pick(values);
		return {
			start: isoDay(start),
			installations: cell(INSTALLATIONS_ID),
			reports: cell(REPORTS_ID),
			sessions: cell(SESSIONS_ID),
			metrics,
			transport: pick(OUTPUT.transports),
			environment,
		};
	});
	const as_of = asOf === null ? null : new Date(asOf * 1000).toISOString().replace(".000Z", "Z");
	return { days, series: grain, as_of, buckets };
}

