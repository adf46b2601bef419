/**
 * The reference the rollups must equal: the stats aggregated live from the raw reports
 * through the `report_cells` view, the way /v1/stats computed them before the rollups
 * (every cell of the window read, distinct installations counted with COUNT(DISTINCT)).
 * `processedOnly` leaves out reports still in rollup_pending. `source` names the tables
 * read: a test that keeps erased installations' reports (which the rollups keep counting
 * until they age out) passes tables of its own with the same columns.
 */
import { env } from "cloudflare:workers";
import { DURATION } from "../../src/contract";
import type { Aggregates, BinAggregate, FactAggregate, ProviderAggregate, TransportAggregate } from "../../src/stats/window";

function processed(alias: string, only: boolean): string {
	return only
		? `AND NOT EXISTS (SELECT 1 FROM rollup_pending AS p WHERE p.telemetry_id = ${alias}.telemetry_id AND p.period_start = ${alias}.period_start)`
		: "";
}

export interface LiveSource {
	readonly reports: string;
	readonly cells: string;
	readonly installations: string;
}

const STORED: LiveSource = { reports: "reports", cells: "report_cells", installations: "installations" };

export async function liveAggregates(since: number, processedOnly = false, db: D1Database = env.DB, source: LiveSource = STORED): Promise<Aggregates> {
	const cells = processed("c", processedOnly);
	const reports = processed("r", processedOnly);
	const [totals, bins, providers, transports, facts] = await db.batch<Record<string, unknown>>([
		db.prepare(
			`SELECT COUNT(DISTINCT telemetry_id) AS installations, COUNT(*) AS reports FROM ${source.reports} AS r WHERE period_end > ?1 ${reports}`,
		).bind(since),
		db.prepare(
			`SELECT metric, bin, SUM(sessions) AS sessions, COUNT(DISTINCT telemetry_id) AS installations
			 FROM ${source.cells} AS c WHERE period_end > ?1 AND bin IS NOT NULL ${cells} GROUP BY metric, bin`,
		).bind(since),
		db.prepare(
			`SELECT metric, role, provider, SUM(sessions) AS sessions, COUNT(DISTINCT telemetry_id) AS installations
			 FROM ${source.cells} AS c WHERE period_end > ?1 AND provider IS NOT NULL ${cells} GROUP BY metric, role, provider`,
		).bind(since),
		db.prepare(
			`SELECT transport, SUM(sessions) AS sessions, COUNT(DISTINCT telemetry_id) AS installations
			 FROM ${source.cells} AS c WHERE period_end > ?1 AND metric = ?2 ${cells} GROUP BY transport`,
		).bind(since, DURATION.name),
		db.prepare(
			`WITH active AS (
			   SELECT * FROM ${source.installations} WHERE telemetry_id IN (SELECT telemetry_id FROM ${source.reports} AS r WHERE period_end > ?1 ${reports})
			 )
			 SELECT 'service_version' AS "column", service_version AS value, COUNT(*) AS installations FROM active GROUP BY 2
			 UNION ALL SELECT 'os_type', os_type, COUNT(*) FROM active GROUP BY 2
			 UNION ALL SELECT 'install_method', install_method, COUNT(*) FROM active GROUP BY 2
			 UNION ALL SELECT 'mcp_host', mcp_host, COUNT(*) FROM active GROUP BY 2
			 UNION ALL SELECT 'exec_source', exec_source, COUNT(*) FROM active GROUP BY 2`,
		).bind(since),
	]);
	const total = totals?.results[0] as { installations: number; reports: number } | undefined;
	return {
		installations: total?.installations ?? 0,
		reports: total?.reports ?? 0,
		bins: (bins?.results ?? []) as unknown as BinAggregate[],
		providers: (providers?.results ?? []) as unknown as ProviderAggregate[],
		transports: (transports?.results ?? []) as unknown as TransportAggregate[],
		facts: (facts?.results ?? []) as unknown as FactAggregate[],
	};
}

/** The aggregates with every list sorted, so two sources compare with one toEqual. */
export function sorted(agg: Aggregates): Aggregates {
	const by = <T>(list: readonly T[]): T[] => [...list].sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
	return {
		installations: agg.installations,
		reports: agg.reports,
		bins: by(agg.bins.map((b) => ({ metric: b.metric, bin: b.bin, sessions: b.sessions, installations: b.installations }))),
		providers: by(agg.providers.map((p) => ({ metric: p.metric, role: p.role, provider: p.provider, sessions: p.sessions, installations: p.installations }))),
		transports: by(agg.transports.map((t) => ({ transport: t.transport, sessions: t.sessions, installations: t.installations }))),
		facts: by(agg.facts.map((f) => ({ column: f.column, value: f.value, installations: f.installations }))),
	};
}
