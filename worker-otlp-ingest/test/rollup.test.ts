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
import { storeReport } from "../src/db";
import { tombstoneKey } from "../src/tombstone";
import { RETENTION_CRON, runScheduled } from "../src/cron";
import { runRollup } from "../src/rollup";
import { readRollups } from "../src/rollup-db";
import { type ReportRows } from "../src/rows";
import { aggregatesFrom, computeStats, readStats, type Aggregates } from "../src/stats";
import { liveAggregates, sorted } from "./support/live-stats";
import { DAY, HOUR, IDS, operations, reportRows, type Ingest, type Op } from "./support/model-ops";
import { forget } from "./support/worker";

const T0 = Date.UTC(2026, 5, 1, 12) / 1000;
const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "erasures"];

// Hours before now that the period ends: mostly recent, up to the 90-day limit (late reports).
const op = operations({ endAgo: fc.oneof(fc.nat(48), fc.nat(90 * 24)), hours: fc.integer({ min: 1, max: 48 }), maxAdvanceHours: 40 * 24 });

/** The rows of a report received at `now` (Unix seconds), as the Worker would write them. */
const rowsOf = (o: Ingest, now: number): ReportRows => reportRows(o, IDS[o.id] ?? "", now);

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
		await storeReport(env.DB, rowsOf(o, now), buckets, Math.floor(now / HOUR) * HOUR, await tombstoneKey(env.IP_HASH_KEY, id));
	} else if (o.kind === "cron") {
		await runRollup(env.DB, now * 1000, { stepReports: o.stepReports, maxSteps: o.maxSteps });
	} else if (o.kind === "forget") {
		const id = IDS[o.id] ?? "";
		await forget(id, now * 1000);
	} else if (o.kind === "retention") {
		// The daily cron: retention, then a rollup run.
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
