/**
 * The cron triggers (wrangler.jsonc `triggers.crons`): hourly, the rollup job takes
 * new reports into the stats and the day/week history; daily, retention deletes what
 * is older than 90 days, then the rollup runs, then the history is sealed and trimmed
 * to two years. Any other cron string — the local trigger `/cdn-cgi/local/scheduled`
 * sends none — runs what the daily one does.
 *
 * Retention is a promise, so nothing may stop it: it runs first, and every step runs
 * on its own — a step that throws is logged and recorded, and the next step runs
 * anyway. Inside the rollup and the backfill a batch that keeps failing is cut down
 * and set aside (steps.ts), so it cannot block what is queued behind it either.
 * (Retention first means a report received within the hour before the daily run, whose
 * period ended just 90 days ago, can expire uncounted: it would have left the 90-day
 * window within the hour anyway.)
 *
 * Every run ends with a heartbeat (cron_state, read by GET /v1/health) recording when
 * it finished and which steps failed, so a failing step shows at once, and a cron that
 * stops firing shows there too. What a run logs is counts and error descriptions only:
 * never an ID, an IP or a stored value (test/logging.test.ts).
 */
import { recordRun } from "../db/cron-state";
import type { Established } from "../db/established";
import { runBackfill, runHistoryDaily } from "./history";
import { runRetention } from "./retention";
import { MAX_STEPS, STEP_REPORTS, runRollup } from "./rollup";
import { describeError } from "./steps";

export const ROLLUP_CRON = "7 * * * *";
export const RETENTION_CRON = "17 3 * * *";

/** D1 queries one invocation may make on Workers Free (Paid: 1,000); a DB.batch is one. */
export const QUERY_BUDGET = 50;

export async function runScheduled(db: D1Database, cron: string, nowMs: number, minInstallations: number, rule: Established): Promise<void> {
	const daily = cron !== ROLLUP_CRON;
	const failed: string[] = [];
	/** Runs one step on its own: a failure is logged and recorded, never thrown. */
	async function step<T>(name: string, work: () => Promise<T>): Promise<T | null> {
		try {
			return await work();
		} catch (error) {
			const described = describeError(error);
			failed.push(`${name} (${described})`);
			console.error("cron step failed", JSON.stringify({ step: name, error: described }));
			return null;
		}
	}

	// Queries kept for the steps other than the rollup: the heartbeat, and on the daily
	// run retention and the history's read and batch.
	const reserved = daily ? 4 : 1;
	const deleted = daily ? await step("retention", () => runRetention(db, nowMs)) : null;
	// A rollup run makes at most 2 queries per step slot, and one last look.
	const maxSteps = Math.min(MAX_STEPS, Math.floor((QUERY_BUDGET - reserved - 1) / 2));
	const run = await step("rollup", () => runRollup(db, nowMs, rule, { stepReports: STEP_REPORTS, maxSteps }));
	if (run) {
		console.log("rollup", JSON.stringify(run));
		if (run.failed !== null) {
			failed.push(`rollup (${run.failed})`);
			console.error("cron step failed", JSON.stringify({ step: "rollup", error: run.failed, setAside: run.setAside }));
		}
	}
	if (run?.complete) {
		const left = QUERY_BUDGET - reserved - (2 * run.steps + 1);
		const backfill = await step("history backfill", () => runBackfill(db, Math.floor((left - 1) / 2)));
		if (backfill && backfill.steps > 0) console.log("history", JSON.stringify(backfill));
		if (backfill?.failed) {
			failed.push(`history backfill (${backfill.failed})`);
			console.error("cron step failed", JSON.stringify({ step: "history backfill", error: backfill.failed, setAside: backfill.setAside }));
		}
	}
	if (daily) {
		const history = await step("history", () => runHistoryDaily(db, nowMs, minInstallations));
		console.log("retention", JSON.stringify({ ...deleted, history }));
	}
	await step("heartbeat", () => recordRun(db, daily ? "daily" : "hourly", Math.floor(nowMs / 1000), failed.length ? failed.join("; ") : null, rule));
}
