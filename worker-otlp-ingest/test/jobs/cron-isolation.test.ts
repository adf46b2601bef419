/**
 * Retention is a promise, so no other cron step may block it: a rollup batch that keeps
 * failing (here a stored report whose cells break the rollups' invariant, as a report
 * stored by a buggy earlier Worker could) never stops the 90-day deletion, is set aside
 * after three failed runs instead of blocking every report queued behind it (counted,
 * logged without IDs), and /v1/health turns degraded at the first failed run, naming
 * the step.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { RETENTION_CRON, ROLLUP_CRON } from "../../src/jobs/cron";
import { SET_ASIDE_AFTER } from "../../src/db/queue";
import { utcDay } from "../../src/ingest/period";
import { DAY_MS, HOUR_MS, hourMs, typicalRequest } from "../support/otlp";
import { exportResult, send, uuid } from "../support/worker";

const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "series_buckets", "series_backfill"];
/** Sorts first in the queue, so every step starts with it. */
const POISON = "00000000-0000-4000-8000-000000000000";

const logged: unknown[][] = [];

beforeEach(async () => {
	await env.DB.batch([
		...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)),
		env.DB.prepare("UPDATE rollup_state SET as_of = NULL"),
		env.DB.prepare("UPDATE cron_state SET created = unixepoch(), rollup_finished = NULL, rollup_left = 0, backfill_left = 0, daily_finished = NULL, hourly_failed = NULL, daily_failed = NULL, set_aside = 0"),
	]);
	logged.length = 0;
	for (const level of ["log", "warn", "error"] as const) vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push([level, ...args]));
});
afterEach(() => vi.restoreAllMocks());

/** A stored report whose cells hold a negative count: every rollup step that takes it in fails. */
async function poisonReport(nowMs: number): Promise<void> {
	const end = hourMs(nowMs, 1) / 1000;
	await env.DB.batch([
		env.DB.prepare("INSERT INTO reports VALUES (?1, ?2, ?3, ?4, '[[0,0,0,-5]]')").bind(POISON, end - 3600, end, utcDay(nowMs)),
		env.DB.prepare("INSERT INTO installations (telemetry_id, first_seen_day, last_seen_day) VALUES (?1, ?2, ?2)").bind(POISON, utcDay(nowMs)),
	]);
}

async function expiredReport(nowMs: number): Promise<string> {
	const id = uuid();
	const end = hourMs(nowMs, 0) - 100 * DAY_MS;
	await env.DB.prepare("INSERT INTO reports VALUES (?1, ?2, ?3, ?4, '[]')").bind(id, (end - HOUR_MS) / 1000, end / 1000, utcDay(end)).run();
	return id;
}

const scheduled = (cron: string, nowMs: number) => worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron }), env);
const count = async (sql: string) => (await env.DB.prepare(sql).first<{ n: number }>())?.n;

async function health(): Promise<{ status: number; body: { status: string; problems: string[]; rollup: Record<string, unknown> } }> {
	const res = await worker.fetch(new Request("https://ingest.test/v1/health") as Parameters<typeof worker.fetch>[0], env);
	return { status: res.status, body: (await res.json()) as { status: string; problems: string[]; rollup: Record<string, unknown> } };
}

async function statsReports(): Promise<number> {
	const res = await worker.fetch(new Request("https://ingest.test/v1/stats?days=7") as Parameters<typeof worker.fetch>[0], { ...env, STATS_MIN_INSTALLATIONS: "1" });
	return ((await res.json()) as { reports: number }).reports;
}

describe("a rollup batch that keeps failing", () => {
	it("never stops the daily retention", async () => {
		const now = Date.now();
		await poisonReport(now);
		expect(await exportResult(await send(typicalRequest(uuid(), now)))).toEqual({});
		const expired = await expiredReport(now);
		await scheduled(RETENTION_CRON, now);
		expect(await count(`SELECT COUNT(*) AS n FROM reports WHERE telemetry_id = '${expired}'`)).toBe(0);
	});

	it("turns /v1/health degraded at the first failed run, naming the step, and a clean run clears it", async () => {
		const now = Date.now();
		await poisonReport(now);
		await scheduled(ROLLUP_CRON, now);
		const first = await health();
		expect(first.status).toBe(503);
		expect(first.body.problems).toEqual([expect.stringMatching(/^the hourly cron's last run failed in: rollup \(.*CHECK constraint failed/)]);
		await env.DB.prepare("DELETE FROM reports WHERE telemetry_id = ?1").bind(POISON).run();
		await env.DB.prepare("DELETE FROM rollup_pending WHERE telemetry_id = ?1").bind(POISON).run();
		await scheduled(ROLLUP_CRON, now);
		expect((await health()).body).toMatchObject({ status: "ok", problems: [] });
	});

	it(`is set aside after ${SET_ASIDE_AFTER} failed runs, so the reports queued behind it reach the stats; counted and logged without IDs`, async () => {
		const now = Date.now();
		await poisonReport(now);
		const genuine = [uuid(), uuid()];
		for (const id of genuine) expect(await exportResult(await send(typicalRequest(id, now)))).toEqual({});
		for (let run = 1; run < SET_ASIDE_AFTER; run++) {
			await scheduled(ROLLUP_CRON, now + run * HOUR_MS);
			expect(await statsReports()).toBe(0);
		}
		await scheduled(ROLLUP_CRON, now + SET_ASIDE_AFTER * HOUR_MS);
		expect(await statsReports()).toBe(2);
		const { status, body } = await health();
		expect(status).toBe(503);
		expect(body.rollup).toMatchObject({ pending: 0, set_aside: 1 });
		const setAside = `1 report was set aside after failing ${SET_ASIDE_AFTER} rollup runs (docs/operations.md says what to do)`;
		expect(body.problems).toEqual([expect.stringMatching(/^the hourly cron's last run failed in: rollup/), setAside]);
		// The next run has nothing failing: only the set-aside report is left to say.
		await scheduled(ROLLUP_CRON, now + (SET_ASIDE_AFTER + 1) * HOUR_MS);
		expect((await health()).body.problems).toEqual([setAside]);
		// Still stored, still waiting: retention deletes it in time like any report, a fix re-queues it.
		expect(await count("SELECT COUNT(*) AS n FROM rollup_pending")).toBe(1);
		const text = JSON.stringify(logged);
		for (const id of [POISON, ...genuine]) expect(text).not.toContain(id);
		expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/i);
		expect(logged.some(([level, kind]) => level === "error" && kind === "cron step failed")).toBe(true);
	});
});
