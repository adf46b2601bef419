/**
 * Migration 0002 on a database written by the Worker before it: verbose cells become
 * the compact tuples the Worker writes now, byte for byte; `report_cells` still gives
 * the same rows by name; every stored report is queued, and the first rollup run gives
 * exactly the live aggregates. Runs on its own D1 (MIGRATION_DB), migrated step by step.
 */
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { runRollup } from "../../src/jobs/rollup";
import { aggregatesFrom } from "../../src/stats/window";
import { readRollups } from "../../src/db/rollups";
import { TYPICAL_CELLS, TYPICAL_STORED } from "../support/otlp";
import { liveAggregates, sorted } from "../support/live-stats";
import { RULE } from "../support/worker";

const DB = () => env.MIGRATION_DB;
const NOW = Date.UTC(2026, 10, 25, 12);
const END = NOW / 1000 - 3600;

/** As src/db/rows.ts wrote cells before 0002: verbose objects, in its canonical order (transport names sorted). */
const OLD = {
	typical: JSON.stringify(TYPICAL_CELLS),
	single: '[{"metric":"voicemode.session.duration","transport":"unknown","bin":">60min","sessions":1},{"metric":"voicemode.session.providers","role":"stt","provider":"unknown","sessions":1}]',
	empty: "[]",
};
const IDS = { typical: "11111111-1111-4111-8111-111111111111", single: "22222222-2222-4222-8222-222222222222", empty: "33333333-3333-4333-8333-333333333333" };

beforeAll(async () => {
	const [first, ...later] = env.TEST_MIGRATIONS;
	if (!first?.name.startsWith("0001")) throw new Error("0001 must come first");
	await applyD1Migrations(DB(), [first]);
	const statements = Object.entries(OLD).flatMap(([kind, cells], i) => {
		const id = IDS[kind as keyof typeof IDS];
		return [
			DB().prepare("INSERT INTO reports VALUES (?1, ?2, ?3, '2026-11-25', ?4)").bind(id, END - 86_400 * (i + 1), END - 3600 * i, cells),
			DB().prepare("INSERT INTO installations VALUES (?1, '2026-11-20', '2026-11-25', '8.12.0', ?2, NULL, 'cursor', 'mcp')").bind(id, i === 0 ? "linux" : null),
		];
	});
	await DB().batch(statements);
	expect(later.map((m) => m.name)).toContain("0002_rollups.sql");
	await applyD1Migrations(DB(), env.TEST_MIGRATIONS);
});

async function all(sql: string): Promise<Record<string, unknown>[]> {
	return (await DB().prepare(sql).all<Record<string, unknown>>()).results;
}

describe("migration 0002 on existing rows", () => {
	it("rewrites each report's cells as the tuples the Worker writes now, in its order", async () => {
		expect(await all("SELECT telemetry_id, cells FROM reports ORDER BY telemetry_id")).toEqual([
			{ telemetry_id: IDS.typical, cells: TYPICAL_STORED },
			{ telemetry_id: IDS.single, cells: "[[0,2,5,1],[2,1,8,1]]" },
			{ telemetry_id: IDS.empty, cells: "[]" },
		]);
	});

	it("keeps report_cells: the same columns and the same rows by name", async () => {
		const cells = await all(`SELECT * FROM report_cells WHERE telemetry_id = '${IDS.typical}'`);
		const named = cells.map(({ metric, transport, bin, role, provider, sessions }) =>
			JSON.stringify(Object.fromEntries(Object.entries({ metric, transport, bin, role, provider, sessions }).filter(([, v]) => v !== null))),
		);
		expect(named.sort()).toEqual(TYPICAL_CELLS.map((c) => JSON.stringify(c)).sort());
		expect(Object.keys(cells[0] ?? {})).toEqual(["telemetry_id", "period_start", "period_end", "received_day", "metric", "transport", "bin", "role", "provider", "sessions"]);
	});

	it("queues every stored report; the first run gives exactly the live aggregates", async () => {
		expect(await all("SELECT COUNT(*) AS n FROM rollup_pending")).toEqual([{ n: 3 }]);
		expect(await runRollup(DB(), NOW, RULE)).toMatchObject({ reports: 3, complete: true });
		for (const days of [1, 7, 30]) {
			const since = NOW / 1000 - days * 86_400;
			expect(sorted(aggregatesFrom((await readRollups(DB(), since)).rows))).toEqual(sorted(await liveAggregates(since, false, DB())));
		}
		expect((await readRollups(DB(), 0)).asOf).toBe(NOW / 1000);
	});
});
