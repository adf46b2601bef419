/**
 * Public aggregates (GET /v1/stats and the dashboard page): sessions per bin, per
 * provider and per transport, and installations per environment fact, over the
 * reports whose period ended in the last N days — read from the hourly rollups
 * (read.ts readStats), so over the reports stored before `as_of`, the last rollup run.
 * Pure.
 *
 * k-anonymity-style suppression: a cell backed by fewer than `minInstallations`
 * distinct installations is left out, so no published number describes a single
 * user (or a handful), and so is any cell whose publication would let a left-out one
 * be computed from the rest (complementary suppression, suppression.ts). The shape is
 * fixed by the contract: every histogram has its `bins` object, every provider role
 * its object, even when all their cells are suppressed.
 */
import { CONTRACT, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "../contract";
import type { RollupRow } from "../db/rollups";
import { INSTALLATION_COLUMNS } from "../db/rows";
import { protect, type Candidate, type Relation } from "./suppression";

/** A summed cell and how many distinct installations back it. */
export interface Aggregate {
	readonly sessions: number;
	readonly installations: number;
}

export interface BinAggregate extends Aggregate {
	readonly metric: string;
	readonly bin: string;
}

export interface ProviderAggregate extends Aggregate {
	readonly metric: string;
	readonly role: string;
	readonly provider: string;
}

export interface TransportAggregate extends Aggregate {
	readonly transport: string;
}

export interface FactAggregate {
	/** An installations column (see db/rows.ts INSTALLATION_COLUMNS). */
	readonly column: string;
	/** NULL when clients did not send the fact. */
	readonly value: string | null;
	readonly installations: number;
}

/** Everything behind one window's stats, before suppression. */
export interface Aggregates {
	readonly installations: number;
	readonly reports: number;
	readonly bins: readonly BinAggregate[];
	readonly providers: readonly ProviderAggregate[];
	readonly transports: readonly TransportAggregate[];
	readonly facts: readonly FactAggregate[];
}

export const DEFAULT_DAYS = 30;
export const MAX_DAYS = CONTRACT.period.maxAgeSeconds / 86_400;
export const DEFAULT_MIN_INSTALLATIONS = 5;

/** Sessions per bin label, in contract order. */
export interface HistogramStats {
	readonly bins: Readonly<Record<string, number>>;
}

/** Sessions per provider name, per role, in contract order. */
export type ProviderStats = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface Stats {
	readonly days: number;
	/**
	 * When the rollups last took in new reports (ISO 8601, UTC): every report stored
	 * before then is counted, later ones from the next hourly run. null: never yet.
	 */
	readonly as_of: string | null;
	/** Installations with at least one report in the window. */
	readonly installations: number;
	readonly reports: number;
	readonly metrics: Readonly<Record<string, HistogramStats | ProviderStats>>;
	/** Sessions per transport. */
	readonly transport: Readonly<Record<string, number>>;
	/** Installations per value of each environment fact ("unknown" when not sent). */
	readonly environment: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

const UNKNOWN = "unknown";

function closedValues(key: string): readonly string[] {
	return CONTRACT.pointAttributes.get(key)?.values ?? CONTRACT.resourceAttributes.get(key)?.values ?? [];
}

/** Contract order first (closed sets), then anything else alphabetically. */
function ordered(entries: Map<string, number>, order: readonly string[]): Record<string, number> {
	const rank = (v: string): number => {
		const i = order.indexOf(v);
		return i === -1 ? order.length : i;
	};
	const keys = [...entries.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
	return Object.fromEntries(keys.map((k) => [k, entries.get(k) ?? 0]));
}

/** Pure: the rollup rows of a window as aggregates ('' stands for a fact not sent). */
export function aggregatesFrom(rows: readonly RollupRow[]): Aggregates {
	let totals = { installations: 0, reports: 0 };
	const bins: BinAggregate[] = [];
	const providers: ProviderAggregate[] = [];
	const transports: TransportAggregate[] = [];
	const facts: FactAggregate[] = [];
	for (const { kind, name, a, b, total: sessions, installations } of rows) {
		if (kind === "reports") totals = { installations, reports: sessions };
		else if (kind === "bin") bins.push({ metric: name, bin: a, sessions, installations });
		else if (kind === "provider") providers.push({ metric: name, role: a, provider: b, sessions, installations });
		else if (kind === "transport") transports.push({ transport: a, sessions, installations });
		else facts.push({ column: name, value: a === "" ? null : a, installations });
	}
	return { ...totals, bins, providers, transports, facts };
}

const id = (...keys: string[]): string => JSON.stringify(keys);

/**
 * The window's numbers as suppression candidates, and the relations between them: the
 * installations total is the sum of each fact's values; the (unpublished) session total
 * is the sum of each histogram's bins and of the transports, and about the sum of each
 * provider role's counts. Closed sets list every value, empty ones at zero.
 */
function candidates(agg: Aggregates): { cells: Map<string, Candidate>; relations: Relation[] } {
	const cells = new Map<string, Candidate>();
	const put = (cell: string, value: number, installations: number): void => {
		const had = cells.get(cell);
		cells.set(cell, { value: (had?.value ?? 0) + value, installations: (had?.installations ?? 0) + installations });
	};
	const histograms = [...CONTRACT.metrics.values()].filter((spec) => spec.instrument === "histogram");
	for (const h of histograms) for (const bin of h.bins) put(id("metrics", h.name, "bins", bin), 0, 0);
	for (const role of closedValues(PROVIDER_ROLE)) for (const name of closedValues(PROVIDER_NAME)) put(id("metrics", PROVIDERS, role, name), 0, 0);
	for (const t of closedValues(TRANSPORT)) put(id("transport", t), 0, 0);
	for (const key of Object.keys(INSTALLATION_COLUMNS)) for (const v of closedValues(key)) put(id("environment", key, v), 0, 0);
	for (const b of agg.bins) put(id("metrics", b.metric, "bins", b.bin), b.sessions, b.installations);
	for (const p of agg.providers) put(id("metrics", p.metric, p.role, p.provider), p.sessions, p.installations);
	for (const t of agg.transports) put(id("transport", t.transport), t.sessions, t.installations);
	const keyOf = new Map<string, string>(Object.entries(INSTALLATION_COLUMNS).map(([key, column]) => [column, key]));
	for (const f of agg.facts) put(id("environment", keyOf.get(f.column) ?? f.column, f.value ?? UNKNOWN), f.installations, f.installations);
	const sessions = agg.transports.reduce((n, t) => n + t.sessions, 0);
	cells.set(id("installations"), { value: agg.installations, installations: agg.installations, always: true });
	cells.set(id("sessions"), { value: sessions, installations: 0, unpublished: true });
	const under = (...keys: string[]): string[] => {
		const prefix = `${id(...keys).slice(0, -1)},`;
		return [...cells.keys()].filter((c) => c.startsWith(prefix));
	};
	const relations: Relation[] = [
		...Object.keys(INSTALLATION_COLUMNS).map((key) => ({ total: id("installations"), parts: under("environment", key) })),
		...histograms.map((h) => ({ total: id("sessions"), parts: under("metrics", h.name, "bins") })),
		{ total: id("sessions"), parts: under("transport") },
		// A session with a fallback provider counts twice, so these are not exact; applied anyway, to be safe.
		...closedValues(PROVIDER_ROLE).map((role) => ({ total: id("sessions"), parts: under("metrics", PROVIDERS, role) })),
	];
	return { cells, relations };
}

/**
 * Pure: applies suppression and shapes the aggregates; `asOf` in Unix seconds. A cell
 * is published when at least `minInstallations` installations back it and no
 * complementary suppression (suppression.ts) withholds it; the installation and report
 * totals always are.
 */
export function computeStats(agg: Aggregates, days: number, minInstallations: number, asOf: number | null = null): Stats {
	const { cells, relations } = candidates(agg);
	const { published } = protect(cells, relations, minInstallations);
	const shown = (...keys: string[]): [string, number][] => {
		const prefix = `${id(...keys).slice(0, -1)},`;
		return [...published]
			.filter((c) => c.startsWith(prefix))
			.map((c) => [(JSON.parse(c) as string[])[keys.length] ?? "", cells.get(c)?.value ?? 0]);
	};
	const metrics: Record<string, HistogramStats | ProviderStats> = {};
	for (const spec of CONTRACT.metrics.values()) {
		if (spec.instrument === "histogram") metrics[spec.name] = { bins: ordered(new Map(shown("metrics", spec.name, "bins")), spec.bins) };
	}
	const providers: Record<string, Record<string, number>> = {};
	for (const role of closedValues(PROVIDER_ROLE)) {
		providers[role] = ordered(new Map(shown("metrics", PROVIDERS, role)), closedValues(PROVIDER_NAME));
	}
	metrics[PROVIDERS] = providers;
	const transport = ordered(new Map(shown("transport")), closedValues(TRANSPORT));
	const environment: Record<string, Record<string, number>> = {};
	for (const key of Object.keys(INSTALLATION_COLUMNS)) environment[key] = ordered(new Map(shown("environment", key)), closedValues(key));
	const as_of = asOf === null ? null : new Date(asOf * 1000).toISOString().replace(".000Z", "Z");
	return { days, as_of, installations: agg.installations, reports: agg.reports, metrics, transport, environment };
}

/** STATS_MIN_INSTALLATIONS as a positive integer, or the default when unset or malformed. */
export function minInstallationsFrom(value: string | undefined): number {
	const n = Number(value);
	return Number.isInteger(n) && n >= 1 ? n : DEFAULT_MIN_INSTALLATIONS;
}

/** The `days` query parameter: absent → 30; otherwise an integer 1..`max` (90 unless given), else null. */
export function daysFrom(value: string | null, max: number = MAX_DAYS): number | null {
	if (value === null) return DEFAULT_DAYS;
	if (!/^[0-9]{1,4}$/.test(value)) return null;
	const n = Number(value);
	return n >= 1 && n <= max ? n : null;
}
