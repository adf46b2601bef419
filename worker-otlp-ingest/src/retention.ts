/**
 * Retention, run by the cron trigger: nothing is kept longer than the contract's
 * max_age (90 days), the same age past which the Worker refuses a report; expired
 * rate-limit windows go too.
 */
import { CONTRACT } from "./contract";
import { deleteExpired, type Deleted } from "./db";
import { utcDay } from "./period";
import { currentWindow } from "./ratelimit";

export async function runRetention(db: D1Database, nowMs: number): Promise<Deleted> {
	const cutoffMs = nowMs - CONTRACT.period.maxAgeSeconds * 1000;
	return deleteExpired(db, Math.floor(cutoffMs / 1000), utcDay(cutoffMs), currentWindow(nowMs).start);
}
