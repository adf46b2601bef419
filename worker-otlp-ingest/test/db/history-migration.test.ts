/**
 * Migration 0005 on a database that already holds reports: those already in the hourly
 * rollups wait in series_backfill, those still queued reach the history with their
 * rollup step; interleaved backfill and rollup steps (new reports arriving meanwhile)
 * end with exactly the live history. Runs on its own D1 (MIGRATION_DB).
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { cellNames, encodeCells } from "../../src/db/cells";
import { storeReport } from "../../src/db/reports";
import { runBackfill } from "../../src/jobs/history";
import { runRollup } from "../../src/jobs/rollup";
import type { ReportRows } from "../../src/db/rows";
import { liveHistory, storedHistory } from "../support/live-history";
import { RULE, NO_TOMBSTONE } from "../support/worker";

const DB = () => env.MIGRATION_DB;
const HOUR = 3_600;
const NOW = Date.UTC(2026, 10, 25, 12) / 1000;
const NAMES = cellNames();

function rows(i: number, day: number, cell: number): ReportRows {
	const id = `${String(i).padStart(8, "0")}-0000-4000-8000-000000000000`;
	const end = NOW - day * 86_400 - (i % 5) * HOUR;
	const n = NAMES[cell % NAMES.length];
	if (!n) throw new Error("cell");
	const named = Object.fromEntries(Object.entries({ transport: n.transport, bin: n.bin, role: n.role, provider: n.provider }).filter(([, v]) => v !== null));
	return {
		installation: { telemetry_id: id, seen_day: "2026-11-25", facts: { service_version: i % 2 ? "8.12.0" : "8.11.2", os_type: "linux", install_method: null, mcp_host: "cursor", exec_source: "mcp" } },
		report: { telemetry_id: id, period_start: end - 20 * HOUR, period_end: end, received_day: "2026-11-25", cells: encodeCells([{ metric: n.metric, ...named, sessions: 1 + (i % 3) }]) },
	};
}

async function store(r: ReportRows): Promise<void> {
	const outcome = await storeReport(DB(), r, [{ bucket: `id:${r.report.telemetry_id}`, maxHits: 99 }, { bucket: "ip:x", maxHits: 999 }], 0, NO_TOMBSTONE);
	expect(outcome.kind).toBe("stored");
}

/** What the Worker before 0005 wrote for a report: its row (the trigger queues it) and the installation upsert. */
async function storeBefore0005(r: ReportRows): Promise<void> {
	const f = r.installation.facts;
	await DB().batch([
		DB().prepare("INSERT INTO reports VALUES (?1, ?2, ?3, ?4, ?5)").bind(r.report.telemetry_id, r.report.period_start, r.report.period_end, r.report.received_day, JSON.stringify(r.report.cells)),
		DB()
			.prepare(
				`INSERT INTO installations (telemetry_id, first_seen_day, last_seen_day, service_version, os_type, install_method, mcp_host, exec_source)
				 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (telemetry_id) DO UPDATE SET last_seen_day = excluded.last_seen_day,
				 service_version = excluded.service_version, os_type = excluded.os_type, install_method = excluded.install_method,
				 mcp_host = excluded.mcp_host, exec_source = excluded.exec_source`,
			)
			.bind(r.installation.telemetry_id, r.installation.seen_day, f.service_version, f.os_type, f.install_method, f.mcp_host, f.exec_source),
	]);
}

beforeAll(async () => {
	const before = env.TEST_MIGRATIONS.filter((m) => m.name < "0005");
	await applyD1Migrations(DB(), before);
	// 8 installations; the Worker before 0005 took their first 6 days into its rollups (its
	// step ended by dequeuing them: the history only cares that they left the queue).
	for (let day = 9; day >= 4; day--) for (let i = 0; i < 8; i++) await storeBefore0005(rows(i, day, i + day));
	await DB().prepare("DELETE FROM rollup_pending").run();
	for (let day = 3; day >= 2; day--) for (let i = 0; i < 8; i++) await storeBefore0005(rows(i, day, i * day));
	await applyD1Migrations(DB(), env.TEST_MIGRATIONS);
});

describe("migration 0005 on existing reports", () => {
	it("queues the reports the rollups already counted, and only those", async () => {
		const count = async (sql: string) => (await DB().prepare(sql).first<{ n: number }>())?.n;
		expect(await count("SELECT COUNT(*) AS n FROM series_backfill")).toBe(48);
		expect(await count("SELECT COUNT(*) AS n FROM rollup_pending")).toBe(16);
		expect(await count("SELECT COUNT(*) AS n FROM series_buckets")).toBe(0);
	});

	it("ends, through interleaved backfill and rollup steps with new reports arriving, at exactly the live history", async () => {
		expect(await runRollup(DB(), NOW * 1000, RULE, { stepReports: 3, maxSteps: 2 })).toMatchObject({ complete: false });
		expect(await runBackfill(DB(), 3, 5)).toMatchObject({ steps: 3, complete: false });
		for (let i = 0; i < 8; i++) await store(rows(i, 1, 3 * i));
		expect(await runRollup(DB(), NOW * 1000, RULE)).toMatchObject({ complete: true });
		expect(await runBackfill(DB(), 100, 5)).toMatchObject({ complete: true });
		expect(await storedHistory(DB())).toEqual(await liveHistory("reports", DB()));
		const facts = await DB().prepare("SELECT a, SUM(installations) AS n FROM series_buckets WHERE grain = 'week' AND kind = 'fact' AND name = 'service_version' GROUP BY a ORDER BY a").all();
		expect(facts.results.length).toBe(2);
	});
});
