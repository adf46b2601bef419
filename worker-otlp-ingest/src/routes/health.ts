/**
 * GET /v1/health: whether the crons keep up, as JSON for a monitor (GET /healthz stays
 * the plain liveness check that touches nothing). 200 with "status": "ok", or 503 with
 * "degraded" and the problems, so any HTTP monitor alerts on the status code alone:
 *   - the hourly cron has not finished a run for ROLLUP_STALE_SECONDS (two runs missed);
 *   - the daily cron has not finished for DAILY_STALE_SECONDS;
 *   - more reports wait for the rollups than one run can take (BACKLOG_LIMIT);
 *   - reports have waited, and `as_of` not moved, for AS_OF_STALE_SECONDS;
 *   - a step of the last hourly or daily run failed (named, from the first such run);
 *   - reports were set aside after failing SET_ASIDE_AFTER rollup runs (db/queue.ts).
 * Reads two rows (cron_state, rollup_state), so polling it every minute costs nothing.
 * Never cached. The numbers are counts and times only; failures are step names and
 * error descriptions without values.
 */
import { readCronState, type CronState } from "../db/cron-state";
import { jsonResponse } from "./http";
import { MAX_STEPS, STEP_REPORTS } from "../jobs/rollup";
import { SET_ASIDE_AFTER } from "../db/queue";

export const ROLLUP_STALE_SECONDS = 2 * 3_600;
export const DAILY_STALE_SECONDS = 26 * 3_600;
export const AS_OF_STALE_SECONDS = 3 * 3_600;
/** What one hourly run can take in. */
export const BACKLOG_LIMIT = STEP_REPORTS * MAX_STEPS;

export interface Health {
	readonly status: "ok" | "degraded";
	readonly problems: readonly string[];
	readonly as_of: string | null;
	readonly as_of_age_seconds: number | null;
	readonly rollup: {
		readonly last_run: string | null;
		readonly age_seconds: number | null;
		readonly pending: number;
		/** Reports of installations not yet established (db/established.ts): expected, not a problem. */
		readonly waiting_for_establishment: number;
		readonly set_aside: number;
		readonly failed: string | null;
	};
	readonly daily: { readonly last_run: string | null; readonly age_seconds: number | null; readonly failed: string | null };
	readonly history_backfill: { readonly pending: number };
}

const iso = (s: number | null): string | null => (s === null ? null : new Date(s * 1000).toISOString().replace(".000Z", "Z"));
const hours = (s: number): string => `${(s / 3_600).toFixed(1)} h`;

/** Pure: the health of the crons at `now` (Unix seconds). */
export function assessHealth(state: CronState, now: number): Health {
	const problems: string[] = [];
	const rollupAge = state.rollupFinished === null ? null : now - state.rollupFinished;
	const dailyAge = state.dailyFinished === null ? null : now - state.dailyFinished;
	const since = now - state.created;
	if ((rollupAge ?? since) > ROLLUP_STALE_SECONDS) {
		problems.push(rollupAge === null ? `the hourly cron has not finished a run in ${hours(since)} since the migration` : `the hourly cron last finished ${hours(rollupAge)} ago`);
	}
	if ((dailyAge ?? since) > DAILY_STALE_SECONDS) {
		problems.push(dailyAge === null ? `the daily cron has not finished a run in ${hours(since)} since the migration` : `the daily cron last finished ${hours(dailyAge)} ago`);
	}
	if (state.rollupLeft > BACKLOG_LIMIT) problems.push(`${state.rollupLeft} reports wait for the rollups, more than one run takes (${BACKLOG_LIMIT})`);
	const asOfAge = state.asOf === null ? null : now - state.asOf;
	if (state.rollupLeft > 0 && (asOfAge ?? since) > AS_OF_STALE_SECONDS) {
		problems.push(`reports have waited and the stats not moved for ${hours(asOfAge ?? since)}`);
	}
	if (state.hourlyFailed !== null) problems.push(`the hourly cron's last run failed in: ${state.hourlyFailed}`);
	if (state.dailyFailed !== null) problems.push(`the daily cron's last run failed in: ${state.dailyFailed}`);
	if (state.setAside > 0) {
		const reports = state.setAside === 1 ? "1 report was" : `${state.setAside} reports were`;
		problems.push(`${reports} set aside after failing ${SET_ASIDE_AFTER} rollup runs (docs/operations.md says what to do)`);
	}
	return {
		status: problems.length === 0 ? "ok" : "degraded",
		problems,
		as_of: iso(state.asOf),
		as_of_age_seconds: asOfAge,
		rollup: {
			last_run: iso(state.rollupFinished),
			age_seconds: rollupAge,
			pending: state.rollupLeft,
			waiting_for_establishment: state.held,
			set_aside: state.setAside,
			failed: state.hourlyFailed,
		},
		daily: { last_run: iso(state.dailyFinished), age_seconds: dailyAge, failed: state.dailyFailed },
		history_backfill: { pending: state.backfillLeft },
	};
}

export async function handleHealth(env: Env, nowMs: number): Promise<Response> {
	let state: CronState;
	try {
		state = await readCronState(env.DB);
	} catch {
		return jsonResponse({ status: "unavailable", problems: ["the database did not answer"] }, { "Cache-Control": "no-store" }, 503);
	}
	const health = assessHealth(state, Math.floor(nowMs / 1000));
	return jsonResponse(health, { "Cache-Control": "no-store" }, health.status === "ok" ? 200 : 503);
}
