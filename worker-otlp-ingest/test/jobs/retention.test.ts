import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { DAY_MS, HOUR_MS, hourMs } from "../support/otlp";
import { utcDay } from "../../src/ingest/period";
import { buildRequest } from "../support/otlp";
import { exportResult, refresh, send, uuid } from "../support/worker";

const MAX_AGE_MS = 90 * DAY_MS;

async function insertReport(id: string, endMs: number): Promise<void> {
	await env.DB.prepare("INSERT INTO reports VALUES (?1, ?2, ?3, ?4, '[]')")
		.bind(id, (endMs - HOUR_MS) / 1000, endMs / 1000, utcDay(endMs))
		.run();
}

async function insertInstallation(id: string, lastSeenMs: number): Promise<void> {
	await env.DB.prepare("INSERT INTO installations (telemetry_id, first_seen_day, last_seen_day) VALUES (?1, ?2, ?2)")
		.bind(id, utcDay(lastSeenMs))
		.run();
}

async function ids(sql: string): Promise<string[]> {
	return (await env.DB.prepare(sql).all<{ id: string }>()).results.map((r) => r.id);
}

describe("retention cron (scheduled handler)", () => {
	it("deletes reports ended more than 90 days ago, installations last seen before that day, and past rate-limit windows", async () => {
		const now = Date.UTC(2026, 10, 25, 3, 17);
		const cutoff = now - MAX_AGE_MS;
		await insertReport("report-expired", hourMs(cutoff, 1));
		await insertReport("report-at-cutoff", Math.ceil(cutoff / HOUR_MS) * HOUR_MS);
		await insertReport("report-recent", hourMs(now, 1));
		await insertInstallation("installation-expired", cutoff - DAY_MS);
		await insertInstallation("installation-cutoff-day", cutoff);
		await insertInstallation("installation-recent", now);
		const thisHour = hourMs(now, 0) / 1000;
		await env.DB.batch([
			env.DB.prepare("INSERT INTO rate_limits VALUES ('id:old', ?1, 3, 10)").bind(thisHour - 3600),
			env.DB.prepare("INSERT INTO rate_limits VALUES ('id:now', ?1, 1, 10)").bind(thisHour),
		]);

		await worker.scheduled(createScheduledController({ scheduledTime: now, cron: "17 3 * * *" }), env);

		expect(await ids("SELECT telemetry_id AS id FROM reports ORDER BY 1")).toEqual(["report-at-cutoff", "report-recent"]);
		expect(await ids("SELECT telemetry_id AS id FROM installations ORDER BY 1")).toEqual(["installation-cutoff-day", "installation-recent"]);
		expect(await ids("SELECT bucket AS id FROM rate_limits ORDER BY 1")).toEqual(["id:now"]);
	});

	it("deletes the rollup rows and counted installations of the reports it deletes, by the same cutoff", async () => {
		// On its own: the reports the test above left would be counted too (ingest's trigger queues every report).
		const tables = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations"];
		await env.DB.batch(tables.map((t) => env.DB.prepare(`DELETE FROM ${t}`)));
		const now = Date.now();
		const id = uuid();
		// A report whose period ended 89 days ago, and a recent one of another installation.
		const old = hourMs(now, 89 * 24);
		expect(await exportResult(await send(buildRequest({ id, startMs: old - HOUR_MS, endMs: old })))).toEqual({});
		expect(await exportResult(await send(buildRequest({ id: uuid(), startMs: hourMs(now, 2), endMs: hourMs(now, 1) })))).toEqual({});
		await refresh(now);
		const hours = async () => (await env.DB.prepare("SELECT DISTINCT hour FROM rollup_hours ORDER BY hour").all<{ hour: number }>()).results.map((r) => r.hour);
		expect(await hours()).toEqual([old / 1000, hourMs(now, 1) / 1000]);

		const later = now + 2 * DAY_MS;
		await worker.scheduled(createScheduledController({ scheduledTime: later, cron: "17 3 * * *" }), env);
		expect(await hours()).toEqual([hourMs(now, 1) / 1000]);
		expect(await ids("SELECT telemetry_id AS id FROM rollup_installations WHERE telemetry_id = '" + id + "'")).toEqual([]);
		const stats = (await (await worker.fetch(new Request("https://ingest.test/v1/stats?days=90") as Parameters<typeof worker.fetch>[0], env)).json()) as { installations: number };
		expect(stats.installations).toBe(1);
	});
});
