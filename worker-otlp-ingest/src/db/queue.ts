/**
 * The SQL both queues of stored reports share (`rollup_pending`, `series_backfill`):
 * which queued reports a step may take, how a step's end is found, and how a failed
 * run is counted (migrations 0006 and 0008; jobs/steps.ts drains the queues). A queued
 * report is takeable unless it was set aside after SET_ASIDE_AFTER failed runs, and —
 * for new reports (`rollup_pending`) — only once its installation is established
 * (established.ts). The backfill holds reports the rollups published before that rule
 * existed.
 */
import type { Established } from "./established";

/** Failed runs, with an installation's reports alone in the step, after which they are set aside. */
export const SET_ASIDE_AFTER = 3;

/** Where the next step ends, from the queue's point of view. */
export interface StepEnd {
	/** The highest telemetry ID the step takes (every queued report of the IDs up to it). */
	readonly upTo: string;
	/** The first telemetry ID in the queue: the step holds one installation when it is upTo. */
	readonly first: string;
	/** Reports the step would take. */
	readonly reports: number;
}

export interface StepCost {
	readonly reports: number;
	readonly rowsRead: number;
	readonly rowsWritten: number;
}

export type QueueTable = "rollup_pending" | "series_backfill";

/** The installation (alias `i`) qualifies under `rule`. Integers only, so the text is safe to inline. */
export function establishedSql(rule: Established): string {
	const days = Math.trunc(rule.days);
	const span = Math.trunc(rule.spanDays);
	return `(i.days_seen >= ${days} AND julianday(i.last_seen_day) - julianday(i.first_seen_day) >= ${span})`;
}

/** The queued row (alias `p`) is waiting for its installation to be established. */
export function heldSql(rule: Established): string {
	return `NOT EXISTS (SELECT 1 FROM installations AS i WHERE i.telemetry_id = p.telemetry_id AND ${establishedSql(rule)})`;
}

/** The queued rows (alias `p`) a step may take. */
export function takeable(queue: QueueTable, rule: Established): string {
	const usable = `p.failures < ${SET_ASIDE_AFTER}`;
	return queue === "series_backfill" ? usable : `${usable} AND NOT ${heldSql(rule)}`;
}

/**
 * Where the next step ends: the ID of the takeable row after the first ?1, or the
 * highest takeable ID when no more are queued (NULL when none is); the first takeable
 * ID; and how many takeable reports the IDs up to the end hold. Reads about ?1 rows
 * twice (and the rows waiting among them), however long the queue: coalesce stops at
 * its first non-NULL argument.
 */
function nextEndSql(queue: QueueTable, rule: Established): string {
	const where = takeable(queue, rule);
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

export async function nextEnd(db: D1Database, queue: QueueTable, size: number, rule: Established): Promise<StepEnd | null> {
	const row = await db.prepare(nextEndSql(queue, rule)).bind(size).first<{ up_to: string | null; first: string | null; reports: number }>();
	if (!row?.up_to || !row.first) return null;
	return { upTo: row.up_to, first: row.first, reports: row.reports };
}

/** One failed run for installation ?1's queued reports; answers how many of them are set aside now. */
export async function countFailure(db: D1Database, queue: QueueTable, telemetryId: string): Promise<number> {
	const { results } = await db
		.prepare(`UPDATE ${queue} AS p SET failures = failures + 1 WHERE telemetry_id = ?1 AND p.failures < ${SET_ASIDE_AFTER} RETURNING failures`)
		.bind(telemetryId)
		.all<{ failures: number }>();
	return results.filter((r) => r.failures >= SET_ASIDE_AFTER).length;
}
