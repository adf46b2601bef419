/**
 * The reference the history must equal: per UTC day and per week (Monday to Sunday) of
 * the last covered hour of each report, the sums and COUNT(DISTINCT) installations,
 * computed straight from stored cells with SQLite's own date functions — none of
 * src/db/history.ts's SQL. Reports still queued (rollup_pending, series_backfill) are not
 * counted yet, so they are left out.
 */
import { env } from "cloudflare:workers";
import { DURATION } from "../../src/contract";

export interface HistoryRow {
	grain: string;
	start: number;
	kind: string;
	name: string;
	a: string;
	b: string;
	total: number;
	installations: number;
}

const NOT_QUEUED = (alias: string, frozen: boolean): string => `
  ${frozen ? `${alias}.frozen = 1 OR (` : "("}NOT EXISTS (SELECT 1 FROM rollup_pending AS q WHERE q.telemetry_id = ${alias}.telemetry_id AND q.period_start = ${alias}.period_start)
  AND NOT EXISTS (SELECT 1 FROM series_backfill AS q WHERE q.telemetry_id = ${alias}.telemetry_id AND q.period_start = ${alias}.period_start))`;

/**
 * Every history row the reports of `source` give, facts left out: `reports`, or a test's
 * copy of every report ever stored whose `frozen` = 1 marks reports counted and since deleted.
 */
export async function liveHistory(source = "reports", db: D1Database = env.DB): Promise<HistoryRow[]> {
	const frozen = source !== "reports";
	const sql = `
WITH placed AS (
  SELECT r.telemetry_id, r.cells, 'day' AS grain, unixepoch(date(r.period_end - 1, 'unixepoch')) AS start
  FROM ${source} AS r WHERE ${NOT_QUEUED("r", frozen)}
  UNION ALL
  SELECT r.telemetry_id, r.cells, 'week', unixepoch(date(r.period_end - 1, 'unixepoch', 'weekday 0', '-6 days'))
  FROM ${source} AS r WHERE ${NOT_QUEUED("r", frozen)}
),
cells AS (
  SELECT p.telemetry_id, p.grain, p.start, n.metric, n.transport, n.bin, n.role, n.provider, json_extract(j.value, '$[3]') AS sessions
  FROM placed AS p, json_each(p.cells) AS j
  JOIN cell_names AS n ON n.m = json_extract(j.value, '$[0]') AND n.a = json_extract(j.value, '$[1]') AND n.b = json_extract(j.value, '$[2]')
)
SELECT grain, start, 'reports' AS kind, '' AS name, '' AS a, '' AS b, COUNT(*) AS total, COUNT(DISTINCT telemetry_id) AS installations FROM placed GROUP BY grain, start
UNION ALL SELECT grain, start, 'sessions', '', '', '', SUM(sessions), COUNT(DISTINCT telemetry_id) FROM cells WHERE metric = ?1 GROUP BY grain, start
UNION ALL SELECT grain, start, 'bin', metric, bin, '', SUM(sessions), COUNT(DISTINCT telemetry_id) FROM cells WHERE bin IS NOT NULL GROUP BY grain, start, metric, bin
UNION ALL SELECT grain, start, 'provider', metric, role, provider, SUM(sessions), COUNT(DISTINCT telemetry_id) FROM cells WHERE provider IS NOT NULL GROUP BY grain, start, metric, role, provider
UNION ALL SELECT grain, start, 'transport', metric, transport, '', SUM(sessions), COUNT(DISTINCT telemetry_id) FROM cells WHERE metric = ?1 GROUP BY grain, start, transport`;
	const { results } = await db.prepare(sql).bind(DURATION.name).all<HistoryRow>();
	return sortRows(results);
}

/** The stored history, facts left out, optionally only buckets ending at or after `notBefore`. */
export async function storedHistory(db: D1Database = env.DB, notBefore = 0): Promise<HistoryRow[]> {
	const { results } = await db
		.prepare(
			`SELECT grain, start, kind, name, a, b, total, installations FROM series_buckets
			 WHERE kind != 'fact' AND start + (CASE grain WHEN 'day' THEN 86400 ELSE 604800 END) >= ?1`,
		)
		.bind(notBefore)
		.all<HistoryRow>();
	return sortRows(results);
}

export function sortRows(rows: readonly HistoryRow[]): HistoryRow[] {
	const key = (r: HistoryRow): string => JSON.stringify([r.grain, r.start, r.kind, r.name, r.a, r.b]);
	return [...rows].map((r) => ({ ...r })).sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
}

/** Per bucket, whether each fact column's installations add up to the bucket's active installations. */
export async function factSumsMismatch(db: D1Database = env.DB): Promise<Record<string, unknown>[]> {
	const { results } = await db
		.prepare(
			`SELECT f.grain, f.start, f.name, SUM(f.installations) AS facts, r.installations AS active
			 FROM series_buckets AS f JOIN series_buckets AS r
			   ON r.grain = f.grain AND r.start = f.start AND r.kind = 'reports' AND r.name = '' AND r.a = '' AND r.b = ''
			 WHERE f.kind = 'fact' GROUP BY f.grain, f.start, f.name HAVING SUM(f.installations) != r.installations`,
		)
		.all<Record<string, unknown>>();
	return results;
}
