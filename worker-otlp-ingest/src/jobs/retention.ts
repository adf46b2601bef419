/**
 * Retention, run by the cron trigger: nothing is kept longer than the contract's
 * max_age (90 days), the same age past which the Worker refuses a report; expired
 * rate-limit windows and tombstones past their time (ingest/tombstone.ts) go too. (The
 * day/week history, which holds no installation ID, is kept two years: history.ts.)
 */
import { CONTRACT } from "../contract";
import { deleteExpired, type Deleted } from "../db/reports";
import { utcDay } from "../ingest/period";
import { currentWindow } from "../ingest/ratelimit";

/** Unix seconds before which a report's period end is expired (now minus the contract's max_age). */
export function retentionCutoff(nowMs: number): number {
	return Math.floor((nowMs - CONTRACT.period.maxAgeSeconds * 1000) / 1000);
}

export async function runRetention(db: D1Database, nowMs: number): Promise<Deleted> {
	const cutoff = retentionCutoff(nowMs);
	return deleteExpired(db, cutoff, utcDay(cutoff * 1000), currentWindow(nowMs).start, Math.floor(nowMs / 1000));
}
