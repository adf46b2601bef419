/**
 * The rollup job through the scheduled handler: what a run takes in, `as_of`,
 * idempotency, steps, late reports, which cron string runs what, and ROLLUP_ON_READ.
 */
import { createScheduledController } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { RETENTION_CRON, ROLLUP_CRON } from "../../src/jobs/cron";
import { runRollup } from "../../src/jobs/rollup";
import { DAY_MS, HOUR_MS, buildRequest, hourMs, typicalRequest } from "../support/otlp";
import { RULE, exportResult, refresh, send, snapshot, uuid } from "../support/worker";

const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations"];

beforeEach(async () => {
	await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
});

async function stats(days = 30, extra: Partial<Env> = {}): Promise<Record<string, unknown>> {
	const request = new Request(`https://ingest.test/v1/stats?days=${days}`) as Parameters<typeof worker.fetch>[0];
	return (await (await worker.fetch(request, { ...env, STATS_MIN_INSTALLATIONS: "1", ...extra })).json()) as Record<string, unknown>;
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
	return (await env.DB.prepare(sql).all<Record<string, unknown>>()).results;
}

const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

describe("the hourly rollup run", () => {
	it("counts stored reports only once it ran, and says up to when in as_of", async () => {
		expect(await stats()).toMatchObject({ as_of: null, installations: 0, reports: 0 });
		expect(await exportResult(await send(typicalRequest(uuid())))).toEqual({});
		expect(await stats()).toMatchObject({ as_of: null, installations: 0, reports: 0 });
		const ranAt = Date.now();
		await refresh(ranAt);
		expect(await stats()).toMatchObject({ as_of: iso(ranAt), installations: 1, reports: 1, transport: { local: 4, livekit: 1 } });
		expect(await rows("SELECT * FROM rollup_pending")).toEqual([]);
	});

	it("is idempotent: a second run writes nothing, keeps as_of, and changes no row", async () => {
		for (let i = 0; i < 3; i++) await send(typicalRequest(uuid()));
		const first = await runRollup(env.DB, Date.UTC(2026, 10, 25, 14, 7), RULE);
		expect(first).toMatchObject({ steps: 1, reports: 3, complete: true });
		const before = await snapshot();
		const second = await runRollup(env.DB, Date.UTC(2026, 10, 25, 15, 7), RULE);
		expect(second).toEqual({ steps: 0, reports: 0, complete: true, rowsRead: 0, rowsWritten: 0, failed: null, setAside: 0 });
		expect(await snapshot()).toEqual(before);
	});

	it("works through a backlog in steps of whole installations, and moves as_of only when nothing is left", async () => {
		const ids = [uuid(), uuid(), uuid(), uuid(), uuid()];
		const now = Date.now();
		for (const id of ids) {
			for (let day = 0; day < 3; day++) {
				await send(buildRequest({ id, startMs: hourMs(now, 24 * day + 24), endMs: hourMs(now, 24 * day) }));
			}
		}
		const partial = await runRollup(env.DB, now, RULE, { stepReports: 4, maxSteps: 2 });
		// Each step takes whole installations: just over 4 reports reach into a second installation, so 6.
		expect(partial).toMatchObject({ steps: 2, reports: 12, complete: false });
		expect(await rows("SELECT as_of FROM rollup_state")).toEqual([{ as_of: null }]);
		const rest = await runRollup(env.DB, now + HOUR_MS, RULE, { stepReports: 4, maxSteps: 10 });
		expect(rest).toMatchObject({ steps: 1, reports: 3, complete: true });
		expect(await rows("SELECT as_of FROM rollup_state")).toEqual([{ as_of: Math.floor((now + HOUR_MS) / 1000) }]);
		expect(await stats(7)).toMatchObject({ installations: 5, reports: 15 });
	});

	it("counts a late report's sessions at its own hour without moving the installation's latest hour", async () => {
		const id = uuid();
		const now = Date.now();
		const local = (bin: number) => ({ transport: "local", counts: [0, 1, 2, 3, 4, 5].map((i) => (i === bin ? 1 : 0)) });
		const one = (startMs: number, endMs: number, bin: number) =>
			buildRequest({ id, startMs, endMs, duration: [local(bin)], exchanges: [{ transport: "local", counts: [0, 1, 0, 0, 0] }], providers: [] });
		await send(one(hourMs(now, 2), hourMs(now, 1), 0));
		await refresh(now);
		// Sent now, but its period ended 40 days ago: inside days=90, outside days=30.
		await send(one(hourMs(now, 0) - 40 * DAY_MS - HOUR_MS, hourMs(now, 0) - 40 * DAY_MS, 5));
		await refresh(now);
		const latest = hourMs(now, 1) / 1000;
		const late = (hourMs(now, 0) - 40 * DAY_MS) / 1000;
		expect(await rows("SELECT hour, a, total, installations FROM rollup_hours WHERE kind = 'bin' AND name = 'voicemode.session.duration' ORDER BY hour")).toEqual([
			{ hour: late, a: ">60min", total: 1, installations: 1 },
			{ hour: latest, a: "<1min", total: 1, installations: 1 },
		]);
		// The exchanges key (1-5) is in both reports: the installation stays counted at its latest hour.
		expect(await rows("SELECT hour, total, installations FROM rollup_hours WHERE kind = 'bin' AND a = '1-5' ORDER BY hour")).toEqual([
			{ hour: late, total: 1, installations: 0 },
			{ hour: latest, total: 1, installations: 1 },
		]);
		expect(await stats(30)).toMatchObject({ installations: 1, reports: 1, metrics: { "voicemode.session.exchanges": { bins: { "1-5": 1 } } } });
		expect(await stats(90)).toMatchObject({ installations: 1, reports: 2, metrics: { "voicemode.session.exchanges": { bins: { "1-5": 2 } } } });
	});
});

describe("scheduled events", () => {
	async function expiredAndPending(now: number): Promise<void> {
		// A report 100 days old with its installation (ingest writes both, in one batch).
		await env.DB.batch([
			env.DB.prepare("INSERT INTO reports VALUES ('expired', ?1, ?2, '2026-01-01', '[]')").bind((now - 100 * DAY_MS) / 1000 - 3600, (now - 100 * DAY_MS) / 1000),
			env.DB.prepare("INSERT INTO installations (telemetry_id, first_seen_day, last_seen_day) VALUES ('expired', '2026-01-01', '2026-01-01')"),
		]);
		await send(typicalRequest(uuid(), now));
	}
	const scheduled = (cron: string, now: number) => worker.scheduled(createScheduledController({ scheduledTime: now, cron }), env);
	const count = async (table: string) => (await rows(`SELECT COUNT(*) AS n FROM ${table}`))[0]?.n;

	it("hourly: takes in new reports and deletes nothing", async () => {
		const now = hourMs(Date.now(), 0);
		await expiredAndPending(now);
		await scheduled(ROLLUP_CRON, now);
		expect([await count("rollup_pending"), await count("reports")]).toEqual([0, 2]);
	});

	it.each([RETENTION_CRON, ""])("daily (and a trigger without a cron string, %j): takes in new reports, then deletes the expired", async (cron) => {
		const now = hourMs(Date.now(), 0);
		await expiredAndPending(now);
		await scheduled(cron, now);
		expect([await count("rollup_pending"), await count("reports")]).toEqual([0, 1]);
	});
});

describe("ROLLUP_ON_READ (local wrangler dev)", () => {
	it('"1" brings the rollups up to date before /v1/stats and / read them; "0" (deployed) does not', async () => {
		await send(typicalRequest(uuid()));
		expect(await stats(30, { ROLLUP_ON_READ: "0" })).toMatchObject({ reports: 0 });
		expect(await stats(30, { ROLLUP_ON_READ: "1" })).toMatchObject({ reports: 1 });
		await send(typicalRequest(uuid()));
		const page = await worker.fetch(new Request("https://ingest.test/?days=7") as Parameters<typeof worker.fetch>[0], { ...env, ROLLUP_ON_READ: "1" });
		expect(await page.text()).toContain('data-stat="reports" data-value="2"');
	});

	it("is off in wrangler.jsonc", async () => {
		await send(typicalRequest(uuid()));
		expect(((await (await exports.default.fetch("https://ingest.test/v1/stats")).json()) as { reports: number }).reports).toBe(0);
	});
});
