/**
 * Every SQL statement on `cron_state` (migrations 0005 and 0006): the heartbeat each
 * cron run ends with, and the one-row read behind GET /v1/health. What is stored is
 * times, counts and step failures described without values (jobs/steps.ts
 * describeError), never an ID.
 */
import type { Established } from "./established";
import { SET_ASIDE_AFTER, heldSql, takeable } from "./queue";

export type RunKind = "hourly" | "daily";

/** Counted up to this many, so the heartbeat stays cheap whatever the backlog. */
const COUNT_CAP = 1_000_000;

/**
 * The heartbeat: the run of kind ?2 finished at ?1 (Unix seconds) with the failed steps
 * ?3 (NULL: none), and what each queue holds now — takeable, waiting for the
 * installation to be established (`rule`), and set aside. A daily run counts as an
 * hourly one too (it runs the rollup).
 */
function recordRunSql(rule: Established): string {
	return `
UPDATE cron_state SET
  rollup_finished = ?1,
  daily_finished  = CASE WHEN ?2 = 'daily' THEN ?1 ELSE daily_finished END,
  hourly_failed   = CASE WHEN ?2 = 'hourly' THEN ?3 ELSE hourly_failed END,
  daily_failed    = CASE WHEN ?2 = 'daily' THEN ?3 ELSE daily_failed END,
  rollup_left     = (SELECT COUNT(*) FROM (SELECT 1 FROM rollup_pending AS p WHERE ${takeable("rollup_pending", rule)} LIMIT ${COUNT_CAP})),
  rollup_held     = (SELECT COUNT(*) FROM (SELECT 1 FROM rollup_pending AS p WHERE p.failures < ${SET_ASIDE_AFTER} AND ${heldSql(rule)} LIMIT ${COUNT_CAP})),
  backfill_left   = (SELECT COUNT(*) FROM (SELECT 1 FROM series_backfill AS p WHERE ${takeable("series_backfill", rule)} LIMIT ${COUNT_CAP})),
  set_aside       = (SELECT COUNT(*) FROM rollup_pending WHERE failures >= ${SET_ASIDE_AFTER})
                  + (SELECT COUNT(*) FROM series_backfill WHERE failures >= ${SET_ASIDE_AFTER})
WHERE id = 1`;
}

export async function recordRun(db: D1Database, kind: RunKind, finished: number, failed: string | null, rule: Established): Promise<void> {
	await db.prepare(recordRunSql(rule)).bind(finished, kind, failed).run();
}

export interface CronState {
	readonly created: number;
	readonly rollupFinished: number | null;
	readonly rollupLeft: number;
	readonly backfillLeft: number;
	readonly dailyFinished: number | null;
	readonly asOf: number | null;
	/** The steps that failed in the last hourly (daily) run; null when all succeeded. */
	readonly hourlyFailed: string | null;
	readonly dailyFailed: string | null;
	/** Queued reports set aside after SET_ASIDE_AFTER failed runs. */
	readonly setAside: number;
	/** Queued reports waiting for their installation to be established. */
	readonly held: number;
}

/** What /v1/health reports: two rows read. */
export async function readCronState(db: D1Database): Promise<CronState> {
	const row = await db
		.prepare(
			`SELECT c.created, c.rollup_finished, c.rollup_left, c.backfill_left, c.daily_finished, c.hourly_failed, c.daily_failed, c.set_aside, c.rollup_held, s.as_of
			 FROM cron_state AS c CROSS JOIN rollup_state AS s WHERE c.id = 1 AND s.id = 1`,
		)
		.first<Record<string, number | string | null>>();
	if (!row) throw new Error("cron_state is missing");
	const num = (v: number | string | null | undefined): number | null => (typeof v === "number" ? v : null);
	const text = (v: number | string | null | undefined): string | null => (typeof v === "string" ? v : null);
	return {
		created: num(row.created) ?? 0,
		rollupFinished: num(row.rollup_finished),
		rollupLeft: num(row.rollup_left) ?? 0,
		backfillLeft: num(row.backfill_left) ?? 0,
		dailyFinished: num(row.daily_finished),
		asOf: num(row.as_of),
		hourlyFailed: text(row.hourly_failed),
		dailyFailed: text(row.daily_failed),
		setAside: num(row.set_aside) ?? 0,
		held: num(row.rollup_held) ?? 0,
	};
}
