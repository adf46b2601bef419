/**
 * The SQL both queues of stored reports share (`rollup_pending`, `series_backfill`):
 * which queued reports a step may take, how a step's end is found, and how a failed
 * run is counted (migration 0006, src/steps.ts). A queued report is takeable unless it
 * was set aside after SET_ASIDE_AFTER failed runs.
 */
import { SET_ASIDE_AFTER } from "./steps";
import type { StepEnd } from "./steps";

export type QueueTable = "rollup_pending" | "series_backfill";

/** The queued rows (alias `p`) a step may take. */
export function takeable(_queue: QueueTable): string {
	return `p.failures < ${SET_ASIDE_AFTER}`;
}

/**
 * Where the next step ends: the ID of the takeable row after the first ?1, or the
 * highest takeable ID when no more are queued (NULL when none is); the first takeable
 * ID; and how many takeable reports the IDs up to the end hold. Reads about ?1 rows
 * twice, however long the queue (coalesce stops at its first non-NULL argument).
 */
function nextEndSql(queue: QueueTable): string {
	const where = takeable(queue);
	return `
WITH ends AS (
  SELECT coalesce(
    (SELECT telemetry_id FROM ${queue} AS p WHERE ${where} ORDER BY telemetry_id, period_start LIMIT 1 OFFSET ?1),
    (SELECT MAX(telemetry_id) FROM ${queue} AS p WHERE ${where})
  ) AS up_to
)
SELECT up_to,
  (SELECT telemetry_id FROM ${queue} AS p WHERE ${where} ORDER BY telemetry_id LIMIT 1) AS first,
  (SELECT COUNT(*) FROM ${queue} AS p WHERE ${where} AND p.telemetry_id <= ends.up_to) AS reports
FROM ends`;
}

const NEXT_END = { rollup_pending: nextEndSql("rollup_pending"), series_backfill: nextEndSql("series_backfill") };

export async function nextEnd(db: D1Database, queue: QueueTable, size: number): Promise<StepEnd | null> {
	const row = await db.prepare(NEXT_END[queue]).bind(size).first<{ up_to: string | null; first: string | null; reports: number }>();
	if (!row?.up_to || !row.first) return null;
	return { upTo: row.up_to, first: row.first, reports: row.reports };
}

/** One failed run for installation ?1's queued reports; answers how many of them are set aside now. */
export async function countFailure(db: D1Database, queue: QueueTable, telemetryId: string): Promise<number> {
	const { results } = await db
		.prepare(`UPDATE ${queue} AS p SET failures = failures + 1 WHERE telemetry_id = ?1 AND ${takeable(queue)} RETURNING failures`)
		.bind(telemetryId)
		.all<{ failures: number }>();
	return results.filter((r) => r.failures >= SET_ASIDE_AFTER).length;
}
