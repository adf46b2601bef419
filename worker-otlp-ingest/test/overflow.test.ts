/**
 * Counts are bounded by the contract, so no flood of valid-looking reports can stop the
 * pipeline. Reproduces, at the scale that broke it, what a few hundred reports carrying
 * the largest counts JavaScript holds exactly (2^53 − 1, four transports each) did: 300
 * of them (fresh IDs, 100 per client address, one 24-hour period) made SQLite's SUM()
 * overflow in the hourly rollup, so the queue never drained, later genuine reports never
 * reached the stats, the 90-day retention behind the rollup never ran, and, split over
 * two runs, /v1/stats and the dashboard answered 503. Now each is refused (200 with
 * partial_success, as OTLP clients expect), and 300 reports at the contract's caps go
 * through the cron, retention, stats and dashboard with exact sums.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../src/index";
import { RETENTION_CRON, ROLLUP_CRON } from "../src/jobs/cron";
import { CONTRACT } from "../src/contract";
import { utcDay } from "../src/ingest/period";
import { DAY_MS, HOUR_MS, buildRequest, hourMs, typicalRequest, type HistogramPointSpec } from "./support/otlp";
import { exportResult, send, uuid } from "./support/worker";

const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "series_buckets", "series_backfill"];
const TRANSPORTS = ["local", "livekit", "unknown", "survey"];
const HUGE = Number.MAX_SAFE_INTEGER;
const FLOOD = 300;
const PER_ADDRESS = 100;

beforeEach(async () => {
	await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
});

/** One point per transport, `perTransport` sessions each, all in the first bin. */
function everyTransport(bins: number, perTransport: number): HistogramPointSpec[] {
	return TRANSPORTS.map((transport) => ({ transport, counts: Array.from({ length: bins }, (_, i) => (i === 0 ? perTransport : 0)) }));
}

/** A report of `id` for the 24 hours before `nowMs`'s hour with `perTransport` sessions on each transport. */
function heavy(id: string, nowMs: number, perTransport: number) {
	return buildRequest({
		id,
		startMs: hourMs(nowMs, 24),
		endMs: hourMs(nowMs, 0),
		duration: everyTransport(6, perTransport),
		exchanges: everyTransport(5, perTransport),
		providers: [{ role: "tts", name: "kokoro", value: perTransport }],
	});
}

/** `count` heavy reports with fresh IDs, PER_ADDRESS from each client address; their OTLP answers. */
async function flood(count: number, nowMs: number, perTransport: number, first: number): Promise<{ rejected?: number; message?: string }[]> {
	const answers = [];
	for (let i = 0; i < count; i++) {
		const ip = `203.0.113.${first + Math.floor(i / PER_ADDRESS)}`;
		const res = await send(heavy(uuid(), nowMs, perTransport), "protobuf", ip);
		expect(res.status).toBe(200);
		answers.push(await exportResult(res));
	}
	return answers;
}

/** Five genuine installations' typical reports (4 local sessions and 1 over LiveKit each). */
async function genuine(nowMs: number): Promise<void> {
	for (let i = 0; i < 5; i++) expect(await exportResult(await send(typicalRequest(uuid(), nowMs)))).toEqual({});
}

/** A report whose period ended 100 days ago, stored directly (ingest refuses it): retention must delete it. */
async function expiredReport(nowMs: number): Promise<void> {
	const end = hourMs(nowMs, 0) - 100 * DAY_MS;
	await env.DB.prepare("INSERT INTO reports VALUES (?1, ?2, ?3, ?4, '[]')")
		.bind(uuid(), (end - HOUR_MS) / 1000, end / 1000, utcDay(end))
		.run();
}

const scheduled = (cron: string, nowMs: number) => worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron }), env);
const get = (path: string) => worker.fetch(new Request(`https://ingest.test${path}`) as Parameters<typeof worker.fetch>[0], env);
const count = async (sql: string) => (await env.DB.prepare(sql).first<{ n: number }>())?.n;

describe("counts above the contract's caps (the overflow flood)", () => {
	it("refuses all 300 whole, so the daily cron drains the queue, retention runs and stats answer", async () => {
		const now = Date.now();
		const answers = await flood(FLOOD, now, HUGE, 1);
		await genuine(now);
		await expiredReport(now);
		await scheduled(RETENTION_CRON, now);
		expect(await count("SELECT COUNT(*) AS n FROM rollup_pending")).toBe(0);
		expect(await count("SELECT COUNT(*) AS n FROM reports")).toBe(5);
		for (const answer of answers) {
			expect(answer.rejected).toBe(9);
			expect(answer.message).toMatch(/at most/);
		}
		const stats = await get("/v1/stats?days=7");
		expect(stats.status).toBe(200);
		expect(await stats.json()).toMatchObject({ installations: 5, reports: 5, transport: { local: 20, livekit: 5 } });
		expect((await get("/?days=7")).status).toBe(200);
	}, 120_000);

	it("split over two hourly runs, leaves /v1/stats and the dashboard answering", async () => {
		const now = Date.now();
		await flood(FLOOD / 2, now, HUGE, 11);
		await scheduled(ROLLUP_CRON, now);
		// The second half ends an hour earlier: two rollup hours, whose sum the stats read computes.
		await flood(FLOOD / 2, now - HOUR_MS, HUGE, 21);
		await scheduled(ROLLUP_CRON, now);
		await genuine(now);
		await scheduled(ROLLUP_CRON, now);
		expect((await get("/v1/stats?days=7")).status).toBe(200);
		expect((await get("/v1/stats?days=7&series=day")).status).toBe(200);
		expect((await get("/?days=7")).status).toBe(200);
	}, 120_000);
});

describe("counts at the contract's caps", () => {
	it("300 reports of the largest allowed counts are stored, rolled up, kept exactly in the stats, and expire", async () => {
		const now = Date.now();
		const cap = CONTRACT.counts.maxSessionsPerHour * 24;
		const perTransport = cap / TRANSPORTS.length;
		const answers = await flood(FLOOD, now, perTransport, 31);
		for (const answer of answers) expect(answer).toEqual({});
		// One session more than a 24-hour period allows is refused.
		expect((await exportResult(await send(heavy(uuid(), now, perTransport + 1)))).message).toMatch(/at most/);
		await genuine(now);
		await expiredReport(now);
		await scheduled(RETENTION_CRON, now);
		expect(await count("SELECT COUNT(*) AS n FROM rollup_pending")).toBe(0);
		expect(await count("SELECT COUNT(*) AS n FROM reports")).toBe(FLOOD + 5);
		const stats = await worker.fetch(new Request("https://ingest.test/v1/stats?days=7") as Parameters<typeof worker.fetch>[0], { ...env, STATS_MIN_INSTALLATIONS: "1" });
		expect(stats.status).toBe(200);
		expect(await stats.json()).toMatchObject({
			installations: FLOOD + 5,
			transport: { local: FLOOD * perTransport + 20, livekit: FLOOD * perTransport + 5, unknown: FLOOD * perTransport, survey: FLOOD * perTransport },
		});
		expect((await get("/?days=7")).status).toBe(200);
		expect((await get("/v1/stats?days=7&series=week")).status).toBe(200);
	}, 120_000);
});
