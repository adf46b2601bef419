/**
 * The cron triggers (wrangler.jsonc `triggers.crons`): hourly, the rollup job takes
 * new reports into the stats and the day/week history; daily, retention deletes what
 * is older than 90 days, after a rollup run, so that a report is counted before it can
 * expire (one received near the 90-day limit and expired unprocessed would leave its
 * installation's facts, which ingest already wrote, out of the rollups), then the
 * history is sealed and trimmed to two years. Any other cron string — the local
 * trigger `/cdn-cgi/local/scheduled` sends none — runs both as the daily one does.
 *
 * Every run ends by recording that it finished (cron_state, read by GET /v1/health),
 * so a cron that stops firing or keeps failing shows there. What a run logs is counts
 * only: never an ID, an IP or a stored value (test/logging.test.ts).
 */
import { recordHourly, runBackfill, runHistoryDaily } from "./history";
import { runRetention } from "./retention";
import { MAX_STEPS, STEP_REPORTS, runRollup } from "./rollup";

export const ROLLUP_CRON = "7 * * * *";
export const RETENTION_CRON = "17 3 * * *";

/** D1 queries one invocation may make on Workers Free (Paid: 1,000); a DB.batch is one. */
export const QUERY_BUDGET = 50;

export async function runScheduled(db: D1Database, cron: string, nowMs: number, minInstallations: number): Promise<void> {
	const daily = cron !== ROLLUP_CRON;
	// Queries kept for the end of the run: retention, then the history's read and batch; or the heartbeat.
	const reserved = daily ? 3 : 1;
	// A rollup run makes 2 queries per step (find the step's end, run its batch) and one last look.
	const maxSteps = Math.min(MAX_STEPS, Math.floor((QUERY_BUDGET - reserved - 1) / 2));
	const run = await runRollup(db, nowMs, { stepReports: STEP_REPORTS, maxSteps });
	console.log("rollup", JSON.stringify(run));
	if (run.complete) {
		const left = QUERY_BUDGET - reserved - (2 * run.steps + 1);
		const backfill = await runBackfill(db, Math.floor((left - 1) / 2));
		if (backfill.steps > 0) console.log("history", JSON.stringify(backfill));
	}
	if (daily) {
		const deleted = await runRetention(db, nowMs);
		const history = await runHistoryDaily(db, nowMs, minInstallations);
		console.log("retention", JSON.stringify({ ...deleted, history }));
	} else {
		await recordHourly(db, nowMs);
	}
}
