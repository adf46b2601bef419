/**
 * Public aggregates (GET /v1/stats, and later the dashboard page): sessions per bin,
 * per provider and per transport, and installations per environment fact, over the
 * reports whose period ended in the last N days.
 *
 * k-anonymity-style suppression: a cell backed by fewer than `minInstallations`
 * distinct installations is left out, so no published number describes a single
 * user (or a handful). The shape is fixed by the contract: every histogram has its
 * `bins` object, every provider role its object, even when all their cells are
 * suppressed.
 */
import { CONTRACT, DURATION, PROVIDERS, PROVIDER_NAME, PROVIDER_ROLE, TRANSPORT } from "./contract";
import { readAggregates, type Aggregate, type Aggregates } from "./db";
import { INSTALLATION_COLUMNS } from "./rows";

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

/** Pure: applies suppression and shapes the aggregates. */
export function computeStats(agg: Aggregates, days: number, minInstallations: number): Stats {
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
	return { days, installations: agg.installations, reports: agg.reports, metrics, transport, environment };
}

/** The stats for the `days` days before `nowMs`. */
export async function readStats(db: D1Database, nowMs: number, days: number, minInstallations: number): Promise<Stats> {
	const since = Math.floor(nowMs / 1000) - days * 86_400;
	return computeStats(await readAggregates(db, since, DURATION.name), days, minInstallations);
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
