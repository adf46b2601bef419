/**
 * The rollup job: takes the reports stored since its last run (`rollup_pending`) into
 * the hourly rollups that /v1/stats and the dashboard read (db/rollups.ts has the SQL
 * and the invariant). Run by the hourly cron; `wrangler dev` can also run it before
 * each stats read (ROLLUP_ON_READ, set by scripts/dev.sh), so local tools see what they
 * just sent.
 *
 * Work is cut into steps of about STEP_REPORTS pending reports (whole installations:
 * a step takes every pending report of the telemetry IDs up to a bound), one DB.batch
 * each, so no statement nears D1's 30-second limit whatever the backlog (the first runs
 * after migration 0002 take in every stored report). A run stops after MAX_STEPS; what
 * is left waits for the next run, and stats stay at the previous `as_of` meanwhile.
 */
import { establishedFrom, type Established } from "../db/established";
import { failStep, nextStepEnd, rollupStep } from "../db/rollups";
import { drain, type Drained } from "./steps";

/** Pending reports per step: ~2,500 arrive an hour at 100,000 installations (docs/capacity.md). */
export const STEP_REPORTS = 2_000;
/**
 * Steps per run: 2 D1 queries each plus a last check, 49 in all, inside the 50 queries
 * per invocation that Workers Free allows (Paid: 1,000). 48,000 reports a run: 19× what
 * an hour brings at 100,000 installations, so a backlog drains by itself.
 */
export const MAX_STEPS = 24;

export interface RollupLimits {
	readonly stepReports: number;
	readonly maxSteps: number;
}

/**
 * A run: steps, reports taken in, whether nothing takeable was left (as_of moved if
 * anything was taken in), D1's meta.rows_read / rows_written summed over the steps (the
 * pending checks read a few more), and any step failure and set-aside (steps.ts).
 */
export type RollupRun = Drained;

/**
 * Runs steps until nothing takeable is pending or `maxSteps` slots are used; `nowMs`
 * becomes `as_of`. Only established installations' reports are takeable (`rule`,
 * db/established.ts); the others wait. A failing step is cut down to the installation whose reports fail,
 * and set aside after SET_ASIDE_AFTER failed runs (steps.ts), so it never blocks the rest.
 */
export function runRollup(
	db: D1Database,
	nowMs: number,
	rule: Established,
	limits: RollupLimits = { stepReports: STEP_REPORTS, maxSteps: MAX_STEPS },
): Promise<RollupRun> {
	const asOf = Math.floor(nowMs / 1000);
	return drain(
		{ nextEnd: (size) => nextStepEnd(db, size, rule), step: (upTo) => rollupStep(db, upTo, asOf, rule), fail: (id) => failStep(db, id) },
		limits.stepReports,
		limits.maxSteps,
	);
}

/** Before a stats read: brings the rollups up to date when ROLLUP_ON_READ is "1" (local `wrangler dev` only). */
export async function rollupOnRead(env: Env, nowMs: number): Promise<void> {
	if (env.ROLLUP_ON_READ === "1") await runRollup(env.DB, nowMs, establishedFrom(env.STATS_ESTABLISHED));
}
