/**
 * Time series for GET /v1/stats?series=day|week (and the dashboard's trends): per UTC
 * day or week of the window, the active installations, reports and sessions, sessions
 * per bin, provider and transport, and installations per version, OS and MCP host —
 * read from the history (history-db.ts), shaped and suppressed here. Pure but for
 * `readSeries`.
 *
 * Every bucket has every cell (the contract's bins and closed values; versions
 * published in any bucket of the response): a number, or null when withheld. A cell is
 * withheld when fewer than `minInstallations` installations back it, or as a
 * complement (suppression.ts) so that no withheld cell can be computed from the same
 * bucket's published numbers. Buckets share no total in one response, so one bucket's
 * numbers cannot be combined with another's to compute a withheld cell either; what
 * different responses allow together is the residual risk docs/privacy.md describes.
 */
import { CONTRACT, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "./contract";
import { GRAINS, HISTORY_DAYS, SERIES_FACTS, bucketStart, readHistory, type Grain, type SeriesRow } from "./history-db";
import { INSTALLATION_COLUMNS } from "./rows";
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
const path = (...keys: string[]): string => JSON.stringify(keys);
const closed = (key: string): readonly string[] =>
	CONTRACT.pointAttributes.get(key)?.values ?? CONTRACT.resourceAttributes.get(key)?.values ?? [];
const COLUMN_KEYS: ReadonlyMap<string, string> = new Map(SERIES_FACTS.map((key) => [INSTALLATION_COLUMNS[key] ?? key, key]));
const HISTOGRAMS = [...CONTRACT.metrics.values()].filter((m) => m.instrument === "histogram");

/** The cell a history row publishes (the 'reports' row carries both the installation and the report count). */
export function cellIdOf(row: SeriesRow): string | null {
	switch (row.kind) {
		case "reports":
			return path("installations");
		case "sessions":
			return path("sessions");
		case "bin":
			return path("metrics", row.name, "bins", row.a);
		case "provider":
			return path("metrics", row.name, row.a, row.b);
		case "transport":
			return path("transport", row.a);
		case "fact": {
			const key = COLUMN_KEYS.get(row.name);
			return key === undefined ? null : path("environment", key, row.a === "" ? UNKNOWN : row.a);
		}
	}
}

/**
 * One bucket's candidates and relations, from its history rows. Every cell the response
 * lists exists, empty ones at zero: an empty cell is a member of its relations too.
 */
export function bucketTable(rows: readonly SeriesRow[]): { cells: Map<string, Candidate>; relations: Relation[] } {
	const cells = new Map<string, Candidate>();
	const put = (id: string, value: number, installations: number): void => {
		const had = cells.get(id);
		cells.set(id, { value: (had?.value ?? 0) + value, installations: (had?.installations ?? 0) + installations });
	};
	for (const id of [path("installations"), path("reports"), path("sessions")]) put(id, 0, 0);
	for (const h of HISTOGRAMS) for (const bin of h.bins) put(path("metrics", h.name, "bins", bin), 0, 0);
	for (const role of closed(PROVIDER_ROLE)) for (const name of closed(PROVIDER_NAME)) put(path("metrics", PROVIDERS, role, name), 0, 0);
	for (const t of closed(TRANSPORT)) put(path("transport", t), 0, 0);
	for (const key of SERIES_FACTS) for (const v of closed(key)) put(path("environment", key, v), 0, 0);
	for (const r of rows) {
		const id = cellIdOf(r);
		if (id === null) continue;
		if (r.kind === "reports") {
			put(id, r.installations, r.installations);
			put(path("reports"), r.total, r.installations);
		} else {
			put(id, r.kind === "fact" ? r.installations : r.total, r.installations);
		}
	}
	const under = (...keys: string[]): string[] => {
		const prefix = `${path(...keys).slice(0, -1)},`;
		return [...cells.keys()].filter((id) => id.startsWith(prefix));
	};
	const relations: Relation[] = [
		...SERIES_FACTS.map((key) => ({ total: path("installations"), parts: under("environment", key) })),
		...HISTOGRAMS.map((h) => ({ total: path("sessions"), parts: under("metrics", h.name, "bins") })),
		{ total: path("sessions"), parts: under("transport") },
		// A session with a fallback provider counts twice, so these are not exact; applied anyway, to be safe.
		...closed(PROVIDER_ROLE).map((role) => ({ total: path("sessions"), parts: under("metrics", PROVIDERS, role) })),
	];
	return { cells, relations };
}

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
	for (const r of rows) byStart.set(r.start, [...(byStart.get(r.start) ?? []), r]);
	const tables = bucketStarts(grain, nowMs, days).map((start) => {
		const { cells, relations } = bucketTable(byStart.get(start) ?? []);
		const { published } = protect(cells, relations, minInstallations);
		return { start, cells, published };
	});
	// Listed fact values: the closed set, plus any value published in some bucket of this response.
	const listed = new Map<string, string[]>();
	for (const key of SERIES_FACTS) {
		const prefix = `${path("environment", key).slice(0, -1)},`;
		const shown = tables.flatMap((t) => [...t.published].filter((id) => id.startsWith(prefix)).map((id) => (JSON.parse(id) as string[])[2] ?? ""));
		listed.set(key, orderedValues(key, [...closed(key), ...shown]));
	}
	const buckets = tables.map(({ start, cells, published }): SeriesBucket => {
		const cell = (...keys: string[]): Cell => {
			const id = path(...keys);
			return published.has(id) ? (cells.get(id)?.value ?? null) : null;
		};
		const metrics: Record<string, Record<string, Record<string, Cell>>> = {};
		for (const h of HISTOGRAMS) metrics[h.name] = { bins: Object.fromEntries(h.bins.map((bin) => [bin, cell("metrics", h.name, "bins", bin)])) };
		metrics[PROVIDERS] = Object.fromEntries(
			closed(PROVIDER_ROLE).map((role) => [role, Object.fromEntries(closed(PROVIDER_NAME).map((n) => [n, cell("metrics", PROVIDERS, role, n)]))]),
		);
		return {
			start: isoDay(start),
			installations: cell("installations"),
			reports: cell("reports"),
			sessions: cell("sessions"),
			metrics,
			transport: Object.fromEntries(closed(TRANSPORT).map((t) => [t, cell("transport", t)])),
			environment: Object.fromEntries(SERIES_FACTS.map((key) => [key, Object.fromEntries((listed.get(key) ?? []).map((v) => [v, cell("environment", key, v)]))])),
		};
	});
	const as_of = asOf === null ? null : new Date(asOf * 1000).toISOString().replace(".000Z", "Z");
	return { days, series: grain, as_of, buckets };
}

/** The series of the `days` days up to `nowMs`, as of the last rollup run. */
export async function readSeries(db: D1Database, nowMs: number, grain: Grain, days: number, minInstallations: number): Promise<Series> {
	const starts = bucketStarts(grain, nowMs, days);
	const { rows, asOf } = await readHistory(db, grain, starts[0] ?? 0, starts[starts.length - 1] ?? 0);
	return computeSeries(rows, grain, days, nowMs, minInstallations, asOf);
}
