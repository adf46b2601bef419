/**
 * The cron triggers (wrangler.jsonc `triggers.crons`): hourly, the rollup job takes
 * new reports into the stats; daily, retention deletes what is older than 90 days,
 * after a rollup run, so that a report is counted before it can expire (one received
 * near the 90-day limit and expired unprocessed would leave its installation's facts,
 * which ingest already wrote, out of the rollups). Any other cron string — the local
 * trigger `/cdn-cgi/local/scheduled` sends none — runs both as the daily one does.
 */
import { runRetention } from "./retention";
import { runRollup } from "./rollup";

export const ROLLUP_CRON = "7 * * * *";
export const RETENTION_CRON = "17 3 * * *";

export async function runScheduled(db: D1Database, cron: string, nowMs: number): Promise<void> {
	const run = await runRollup(db, nowMs);
	console.log("rollup", JSON.stringify(run));
	if (cron !== ROLLUP_CRON) {
		const deleted = await runRetention(db, nowMs);
		console.log("retention", JSON.stringify(deleted));
	}
}
