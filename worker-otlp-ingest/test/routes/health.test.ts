/**
 * GET /v1/health: ok while both crons run and keep up; 503 with the reason when the
 * hourly or the daily cron stops, when the rollup backlog outgrows a run, or when stats
 * stop moving while reports wait. The crons record every finished run (cron_state).
 */
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { RETENTION_CRON, ROLLUP_CRON } from "../../src/jobs/cron";
import { BACKLOG_LIMIT, assessHealth, type Health } from "../../src/routes/health";
import { typicalRequest } from "../support/otlp";
import { send, uuid } from "../support/worker";

const scheduled = (cron: string, nowMs: number) => worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron }), env);

async function health(): Promise<{ status: number; body: Health }> {
	const res = await worker.fetch(new Request("https://ingest.test/v1/health") as Parameters<typeof worker.fetch>[0], env);
	return { status: res.status, body: (await res.json()) as Health };
}

beforeEach(async () => {
	await env.DB.batch([
		env.DB.prepare("DELETE FROM rollup_pending"),
		env.DB.prepare("UPDATE cron_state SET created = unixepoch(), rollup_finished = NULL, rollup_left = 0, backfill_left = 0, daily_finished = NULL, hourly_failed = NULL, daily_failed = NULL, set_aside = 0"),
	]);
});

describe("GET /v1/health", () => {
	it("is ok after both crons ran, no-store, and /healthz stays plain", async () => {
		const now = Date.now();
		await scheduled(ROLLUP_CRON, now);
		await scheduled(RETENTION_CRON, now);
		const res = await exports.default.fetch("https://ingest.test/v1/health");
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const body = (await res.json()) as Health;
		expect(body).toMatchObject({ status: "ok", problems: [], rollup: { pending: 0, age_seconds: expect.any(Number) }, daily: { age_seconds: expect.any(Number) } });
		expect(body.rollup.last_run).toBe(new Date(Math.floor(now / 1000) * 1000).toISOString().replace(".000Z", "Z"));
		expect(await (await exports.default.fetch("https://ingest.test/healthz")).text()).toBe("ok\n");
		expect((await exports.default.fetch("https://ingest.test/v1/health", { method: "POST" })).status).toBe(405);
	});

	it("is ok right after the migration, before any cron could have run", async () => {
		expect((await health()).status).toBe(200);
	});

	it("answers 503 when the hourly cron has not finished for two hours", async () => {
		const now = Date.now();
		await scheduled(RETENTION_CRON, now);
		await env.DB.prepare("UPDATE cron_state SET rollup_finished = ?1, created = ?1").bind(Math.floor(now / 1000) - 2 * 3600 - 60).run();
		const { status, body } = await health();
		expect(status).toBe(503);
		expect(body.status).toBe("degraded");
		expect(body.problems).toEqual(["the hourly cron last finished 2.0 h ago"]);
	});

	it("answers 503 when no cron ever ran since a migration three hours ago", async () => {
		await env.DB.prepare("UPDATE cron_state SET created = unixepoch() - 3 * 3600").run();
		const { status, body } = await health();
		expect(status).toBe(503);
		expect(body.problems).toEqual(["the hourly cron has not finished a run in 3.0 h since the migration"]);
	});

	it("records what a run left queued, and flags reports waiting while as_of stands still", async () => {
		const now = Date.now();
		await scheduled(RETENTION_CRON, now);
		await scheduled(ROLLUP_CRON, now);
		await send(typicalRequest(uuid()));
		// A run that could not take the report in (simulated: the queue entry arrives after it).
		await env.DB.prepare("UPDATE rollup_state SET as_of = ?1").bind(Math.floor(now / 1000) - 4 * 3600).run();
		await env.DB.prepare("UPDATE cron_state SET rollup_left = 1").run();
		const { status, body } = await health();
		expect(status).toBe(503);
		expect(body.problems).toEqual(["reports have waited and the stats not moved for 4.0 h"]);
		await scheduled(ROLLUP_CRON, now);
		expect((await health()).body).toMatchObject({ status: "ok", rollup: { pending: 0 } });
	});
});

describe("assessHealth", () => {
	const base = { created: 0, rollupFinished: 10_000, rollupLeft: 0, backfillLeft: 0, dailyFinished: 10_000, asOf: 10_000, hourlyFailed: null, dailyFailed: null, setAside: 0, held: 0 };
	it("flags a backlog larger than one run takes", () => {
		expect(assessHealth({ ...base, rollupLeft: BACKLOG_LIMIT + 1 }, 10_100).problems).toEqual([
			`${BACKLOG_LIMIT + 1} reports wait for the rollups, more than one run takes (${BACKLOG_LIMIT})`,
		]);
		expect(assessHealth({ ...base, rollupLeft: BACKLOG_LIMIT }, 10_100).status).toBe("ok");
	});

	it("flags a daily cron silent for more than 26 hours, and reports the backfill without flagging it", () => {
		const h = assessHealth({ ...base, rollupFinished: 200_000, asOf: 200_000, backfillLeft: 5 }, 200_000);
		expect(h.problems).toEqual(["the daily cron last finished 52.8 h ago"]);
		expect(h.history_backfill).toEqual({ pending: 5 });
	});
});
