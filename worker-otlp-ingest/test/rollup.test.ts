/**
 * The rollups equal the live aggregation: random reports (late ones included), forgets,
 * retention and cron runs of random step sizes, interleaved; after every operation the
 * rollup-based aggregates equal the live query over the processed reports, for windows
 * of 1 to 90 days ending at arbitrary seconds; after a complete run, every number
 * /v1/stats would publish (facts and suppression included) is identical.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { cellNames, encodeCells, type Cell } from "../src/cells";
import { deleteInstallation, storeReport } from "../src/db";
import { idBucket } from "../src/ratelimit";
import { RETENTION_CRON, runScheduled } from "../src/cron";
import { runRollup } from "../src/rollup";
import { readRollups } from "../src/rollup-db";
import { INSTALLATION_COLUMNS, type InstallationColumn, type ReportRows } from "../src/rows";
import { utcDay } from "../src/period";
import { aggregatesFrom, computeStats, readStats, type Aggregates } from "../src/stats";
import { liveAggregates, sorted } from "./support/live-stats";

const HOUR = 3_600;
const DAY = 86_400;
const T0 = Date.UTC(2026, 5, 1, 12) / 1000;
const IDS = [
	"0b0a3f4e-7c1d-4e2f-9a3b-1c2d3e4f5a60",
	"3c1b2a4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
	"5d2e3f4a-6b7c-4d8e-9f0a-1b2c3d4e5f6a",
	"8e3f4a5b-7c8d-4e9f-a0b1-2c3d4e5f6a7b",
	"f1a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b",
];
const NAMES = cellNames();
const FACT_VALUES = [null, "x", "y"] as const;
const COLUMNS = Object.values(INSTALLATION_COLUMNS);
const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations"];

type Op =
	| { kind: "ingest"; id: number; endAgo: number; hours: number; cells: [number, number][]; facts: number[] }
	| { kind: "cron"; stepReports: number; maxSteps: number }
	| { kind: "forget"; id: number }
	| { kind: "retention" }
	| { kind: "advance"; hours: number };

const op: fc.Arbitrary<Op> = fc.oneof(
	{
		weight: 8,
		arbitrary: fc.record({
			kind: fc.constant("ingest" as const),
			id: fc.nat(IDS.length - 1),
			// Hours before now that the period ends: mostly recent, up to the 90-day limit (late reports).
			endAgo: fc.oneof(fc.nat(48), fc.nat(90 * 24)),
			hours: fc.integer({ min: 1, max: 48 }),
			cells: fc.uniqueArray(fc.tuple(fc.nat(NAMES.length - 1), fc.integer({ min: 1, max: 5 })), { maxLength: 6, selector: (c) => c[0] }),
			facts: fc.array(fc.nat(FACT_VALUES.length - 1), { minLength: COLUMNS.length, maxLength: COLUMNS.length }),
		}),
	},
	{ weight: 3, arbitrary: fc.record({ kind: fc.constant("cron" as const), stepReports: fc.integer({ min: 1, max: 4 }), maxSteps: fc.integer({ min: 1, max: 3 }) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("forget" as const), id: fc.nat(IDS.length - 1) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("retention" as const) }) },
	{ weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), hours: fc.integer({ min: 1, max: 40 * 24 }) }) },
);

function cellOf(index: number, sessions: number): Cell {
	const n = NAMES[index];
	if (!n) throw new Error("cell index");
	const named = Object.fromEntries(Object.entries({ transport: n.transport, bin: n.bin, role: n.role, provider: n.provider }).filter(([, v]) => v !== null));
	return { metric: n.metric, ...named, sessions };
}

/** The rows of a report received at `now` (Unix seconds), as the Worker would write them. */
function rowsOf(o: Extract<Op, { kind: "ingest" }>, now: number): ReportRows {
	const id = IDS[o.id] ?? "";
	const end = Math.floor(now / HOUR) * HOUR - o.endAgo * HOUR;
	const facts = Object.fromEntries(COLUMNS.map((c, i) => [c, FACT_VALUES[o.facts[i] ?? 0] ?? null])) as Record<InstallationColumn, string | null>;
	return {
		installation: { telemetry_id: id, seen_day: utcDay(now * 1000), facts },
		report: {
			telemetry_id: id,
			period_start: end - o.hours * HOUR,
			period_end: end,
			received_day: utcDay(now * 1000),
			cells: encodeCells(o.cells.map(([c, s]) => cellOf(c, s))),
		},
	};
}

async function rollupAggregates(since: number): Promise<Aggregates> {
	return aggregatesFrom((await readRollups(env.DB, since)).rows);
}

/** Everything but the environment facts, which the live query reads from rows ingest already changed. */
function withoutFacts(agg: Aggregates): Aggregates {
	return { ...sorted(agg), facts: [] };
}

async function apply(o: Op, now: number): Promise<void> {
	if (o.kind === "ingest") {
		const id = IDS[o.id] ?? "";
		const buckets = [
			{ bucket: `id:${id}`, maxHits: 1_000_000 },
			{ bucket: "ip:test", maxHits: 1_000_000 },
		] as const;
		// Overlapping periods are refused as in production; that is part of the input space.
		await storeReport(env.DB, rowsOf(o, now), buckets, Math.floor(now / HOUR) * HOUR);
	} else if (o.kind === "cron") {
		await runRollup(env.DB, now * 1000, { stepReports: o.stepReports, maxSteps: o.maxSteps });
	} else if (o.kind === "forget") {
		const id = IDS[o.id] ?? "";
		await deleteInstallation(env.DB, id, idBucket(id).bucket);
	} else if (o.kind === "retention") {
		// The daily cron: a rollup run, then retention.
		await runScheduled(env.DB, RETENTION_CRON, now * 1000, 5);
	}
}

describe("rollups (property: equal to the live aggregation)", () => {
	beforeEach(async () => {
		await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
	});

	it("equal the live query over processed reports after every operation, and every published number after a complete run", async () => {
		await fc.assert(
			fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 90 * DAY }), { minLength: 2, maxLength: 2 }), async (ops, offsets) => {
				await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
				let now = T0;
				for (const o of ops) {
					if (o.kind === "advance") now += o.hours * HOUR;
					await apply(o, now);
					for (const since of [now - 30 * DAY, now - (offsets[0] ?? 0)]) {
						expect(withoutFacts(await rollupAggregates(since))).toEqual(withoutFacts(await liveAggregates(since, true)));
					}
				}
				expect((await runRollup(env.DB, now * 1000)).complete).toBe(true);
				for (const days of [1, 2, 7, 30, 89, 90]) {
					const since = now - days * DAY;
					const live = await liveAggregates(since);
					expect(sorted(await rollupAggregates(since))).toEqual(sorted(live));
					const { asOf } = await readRollups(env.DB, since);
					for (const min of [1, 2, 3, 5]) {
						expect(await readStats(env.DB, now * 1000, days, min)).toEqual(computeStats(live, days, min, asOf));
					}
				}
				for (const s of offsets) expect(sorted(await rollupAggregates(now - s))).toEqual(sorted(await liveAggregates(now - s)));
				// No row is left at zero: the tables hold only what some window can show.
				const empty = await env.DB.prepare("SELECT COUNT(*) AS n FROM rollup_hours WHERE total = 0 AND installations = 0").first<{ n: number }>();
				expect(empty?.n).toBe(0);
			}),
			{ numRuns: 15 },
		);
	}, 120_000);
});
