/**
 * Public aggregates (GET /v1/stats and the dashboard page): sessions per bin, per
 * provider and per transport, and installations per environment fact, over the
 * reports whose period ended in the last N days — read from the hourly rollups
 * (rollup-db.ts), so over the reports stored before `as_of`, the last rollup run.
 *
 * k-anonymity-style suppression: a cell backed by fewer than `minInstallations`
 * distinct installations is left out, so no published number describes a single
 * user (or a handful). The shape is fixed by the contract: every histogram has its
 * `bins` object, every provider role its object, even when all their cells are
 * suppressed.
 */
import { CONTRACT, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "./contract";
import { readRollups, type RollupRow } from "./rollup-db";
import { INSTALLATION_COLUMNS } from "./rows";

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
	/** An installations column (see rows.ts INSTALLATION_COLUMNS). */
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

/** Pure: applies suppression and shapes the aggregates; `asOf` in Unix seconds. */
export function computeStats(agg: Aggregates, days: number, minInstallations: number, asOf: number | null = null): Stats {
	const shown = (a: Aggregate): boolean => a.installations >= minInstallations;
	const metrics: Record<string, HistogramStats | ProviderStats> = {};
	for (const spec of CONTRACT.metrics.values()) {
		if (spec.instrument === "histogram") {
			const bins = new Map(agg.bins.filter((b) => b.metric === spec.name && shown(b)).map((b) => [b.bin, b.sessions]));
			metrics[spec.name] = { bins: ordered(bins, spec.bins) };
		}
	}
	const providers: Record<string, Record<string, number>> = {};
	for (const role of closedValues(PROVIDER_ROLE)) {
		const cells = agg.providers.filter((p) => p.metric === PROVIDERS && p.role === role && shown(p));
		providers[role] = ordered(new Map(cells.map((p) => [p.provider, p.sessions])), closedValues(PROVIDER_NAME));
	}
	metrics[PROVIDERS] = providers;

	const transport = ordered(
		new Map(agg.transports.filter(shown).map((t) => [t.transport, t.sessions])),
		closedValues(TRANSPORT),
	);
	const environment: Record<string, Record<string, number>> = {};
	for (const [key, column] of Object.entries(INSTALLATION_COLUMNS)) {
		const cells = agg.facts.filter((f) => f.column === column && f.installations >= minInstallations);
		environment[key] = ordered(new Map(cells.map((f) => [f.value ?? UNKNOWN, f.installations])), closedValues(key));
	}
	const as_of = asOf === null ? null : new Date(asOf * 1000).toISOString().replace(".000Z", "Z");
	return { days, as_of, installations: agg.installations, reports: agg.reports, metrics, transport, environment };
}

/** The stats for the `days` days before `nowMs`, as of the last rollup run. */
export async function readStats(db: D1Database, nowMs: number, days: number, minInstallations: number): Promise<Stats> {
	const since = Math.floor(nowMs / 1000) - days * 86_400;
	const { rows, asOf } = await readRollups(db, since);
	return computeStats(aggregatesFrom(rows), days, minInstallations, asOf);
}

/** STATS_MIN_INSTALLATIONS as a positive integer, or the default when unset or malformed. */
export function minInstallationsFrom(value: string | undefined): number {
	const n = Number(value);
	return Number.isInteger(n) && n >= 1 ? n : DEFAULT_MIN_INSTALLATIONS;
}

/** The `days` query parameter: absent → 30; otherwise an integer 1..90, else null. */
export function daysFrom(value: string | null): number | null {
	if (value === null) return DEFAULT_DAYS;
	if (!/^[0-9]{1,3}$/.test(value)) return null;
	const n = Number(value);
	return n >= 1 && n <= MAX_DAYS ? n : null;
}
