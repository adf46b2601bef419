/**
 * The rollups equal the live aggregation: random reports (late ones included), forgets,
 * retention and cron runs of random step sizes, interleaved; after every operation the
 * rollup-based aggregates equal the live query over the processed reports, for windows
 * of 1 to 90 days ending at arbitrary seconds; after a complete run, every number
 * /v1/stats would publish (facts and suppression included) is identical. A forget
 * deletes the installation's reports but not what they added to the rollups (no
 * published number moves), so the reference keeps every counted report of an erased
 * installation, with its facts as counted, until it ages out; as in production, its ID
 * never reports again (the tombstone refuses it).
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { storeReport } from "../../src/db/reports";
import { tombstoneKey } from "../../src/ingest/tombstone";
import { DEFAULT_ESTABLISHED, type Established } from "../../src/db/established";
import { heldSql } from "../../src/db/queue";
import { RETENTION_CRON, runScheduled } from "../../src/jobs/cron";
import { runRollup } from "../../src/jobs/rollup";
import { readRollups } from "../../src/db/rollups";
import { type ReportRows } from "../../src/db/rows";
import { aggregatesFrom, computeStats, type Aggregates } from "../../src/stats/window";
import { readStats } from "../../src/stats/read";
import { liveAggregates, sorted } from "../support/live-stats";
import { DAY, HOUR, IDS, operations, reportRows, type Ingest, type Op } from "../support/model-ops";
import { RULE, forget } from "../support/worker";

const T0 = Date.UTC(2026, 5, 1, 12) / 1000;
const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "erasures", "all_reports", "frozen_facts"];
/** The reference: every report ever stored and not yet erased-before-counted, and erased installations' counted facts. */
const REFERENCE = { reports: "all_reports", cells: "all_report_cells", installations: "all_installations" };

async function createReference(): Promise<void> {
	await env.DB.batch([
		env.DB.prepare("CREATE TABLE IF NOT EXISTS all_reports (telemetry_id, period_start, period_end, received_day, cells)"),
		env.DB.prepare("CREATE TRIGGER IF NOT EXISTS keep_all_reports AFTER INSERT ON reports BEGIN INSERT INTO all_reports VALUES (NEW.telemetry_id, NEW.period_start, NEW.period_end, NEW.received_day, NEW.cells); END"),
		env.DB.prepare("CREATE TABLE IF NOT EXISTS frozen_facts (telemetry_id, service_version, os_type, install_method, mcp_host, exec_source)"),
		env.DB.prepare(
			`CREATE VIEW IF NOT EXISTS all_report_cells AS SELECT r.telemetry_id, r.period_start, r.period_end, n.metric, n.transport, n.bin, n.role, n.provider, json_extract(c.value, '$[3]') AS sessions
			 FROM all_reports AS r CROSS JOIN json_each(r.cells) AS c
			 LEFT JOIN cell_names AS n ON n.m = json_extract(c.value, '$[0]') AND n.a = json_extract(c.value, '$[1]') AND n.b = json_extract(c.value, '$[2]')`,
		),
		env.DB.prepare(
			`CREATE VIEW IF NOT EXISTS all_installations AS
			 SELECT telemetry_id, service_version, os_type, install_method, mcp_host, exec_source FROM installations
			 UNION ALL SELECT * FROM frozen_facts`,
		),
	]);
}

/** Before a forget: the reference drops the installation's reports never counted and keeps its counted facts. */
async function forgetInReference(id: string): Promise<void> {
	const unless = (c: string) => `nullif(${c}, '')`;
	await env.DB.batch([
		env.DB.prepare(
			`INSERT INTO frozen_facts SELECT telemetry_id, ${["service_version", "os_type", "install_method", "mcp_host", "exec_source"].map(unless).join(", ")}
			 FROM rollup_installations WHERE telemetry_id = ?1`,
		).bind(id),
		env.DB.prepare("DELETE FROM all_reports WHERE telemetry_id = ?1 AND period_start IN (SELECT period_start FROM rollup_pending WHERE telemetry_id = ?1)").bind(id),
	]);
}

// Hours before now that the period ends: mostly recent, up to the 90-day limit (late reports).
const op = operations({ endAgo: fc.oneof(fc.nat(48), fc.nat(90 * 24)), hours: fc.integer({ min: 1, max: 48 }), maxAdvanceHours: 40 * 24 });

/** The rows of a report received at `now` (Unix seconds), as the Worker would write them. */
const rowsOf = (o: Ingest, now: number): ReportRows => reportRows(o, IDS[o.id] ?? "", now);

const live = (since: number, processedOnly = false) => liveAggregates(since, processedOnly, env.DB, REFERENCE);

async function rollupAggregates(since: number): Promise<Aggregates> {
	return aggregatesFrom((await readRollups(env.DB, since)).rows);
}

/** Everything but the environment facts, which the live query reads from rows ingest already changed. */
function withoutFacts(agg: Aggregates): Aggregates {
	return { ...sorted(agg), facts: [] };
}

async function apply(o: Op, now: number, rule: Established): Promise<void> {
	if (o.kind === "ingest") {
		const id = IDS[o.id] ?? "";
		const buckets = [
			{ bucket: `id:${id}`, maxHits: 1_000_000 },
			{ bucket: "ip:test", maxHits: 1_000_000 },
		] as const;
		// Overlapping periods are refused as in production; that is part of the input space.
		await storeReport(env.DB, rowsOf(o, now), buckets, Math.floor(now / HOUR) * HOUR, await tombstoneKey(env.IP_HASH_KEY, id));
	} else if (o.kind === "cron") {
		await runRollup(env.DB, now * 1000, rule, { stepReports: o.stepReports, maxSteps: o.maxSteps });
	} else if (o.kind === "forget") {
		const id = IDS[o.id] ?? "";
		await forgetInReference(id);
		await forget(id, now * 1000);
	} else if (o.kind === "retention") {
		// The daily cron: retention, then a rollup run.
		await runScheduled(env.DB, RETENTION_CRON, now * 1000, 5, rule);
	}
}

describe("rollups (property: equal to the live aggregation)", () => {
	beforeEach(async () => {
		await createReference();
		await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
	});

	/**
	 * Under `rule`; with the deployed one (3 days over a week) most installations of a
	 * run never qualify: their reports must stay queued and out of every number.
	 */
	async function property(rule: Established, ops: fc.Arbitrary<Op[]>): Promise<void> {
		await fc.assert(
			fc.asyncProperty(ops, fc.array(fc.integer({ min: 1, max: 90 * DAY }), { minLength: 2, maxLength: 2 }), async (ops, offsets) => {
				await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL")]);
				let now = T0;
				for (const o of ops) {
					if (o.kind === "advance") now += o.hours * HOUR;
					await apply(o, now, rule);
					for (const since of [now - 30 * DAY, now - (offsets[0] ?? 0)]) {
						expect(withoutFacts(await rollupAggregates(since))).toEqual(withoutFacts(await live(since, true)));
					}
				}
				expect((await runRollup(env.DB, now * 1000, rule)).complete).toBe(true);
				// What is still queued waits for its installation to be established, and nothing else does.
				const waiting = await env.DB.prepare(`SELECT COUNT(*) AS n FROM rollup_pending AS p WHERE NOT ${heldSql(rule)}`).first<{ n: number }>();
				expect(waiting?.n).toBe(0);
				for (const days of [1, 2, 7, 30, 89, 90]) {
					const since = now - days * DAY;
					const reference = await live(since, true);
					expect(sorted(await rollupAggregates(since))).toEqual(sorted(reference));
					const { asOf } = await readRollups(env.DB, since);
					for (const min of [1, 2, 3, 5]) {
						expect(await readStats(env.DB, now * 1000, days, min)).toEqual(computeStats(reference, days, min, asOf));
					}
				}
				for (const s of offsets) expect(sorted(await rollupAggregates(now - s))).toEqual(sorted(await live(now - s, true)));
				// No row is left at zero: the tables hold only what some window can show.
				const empty = await env.DB.prepare("SELECT COUNT(*) AS n FROM rollup_hours WHERE total = 0 AND installations = 0").first<{ n: number }>();
				expect(empty?.n).toBe(0);
			}),
			{ numRuns: 15 },
		);
	}

	it("equal the live query over processed reports after every operation, and every published number after a complete run", async () => {
		await property(RULE, fc.array(op, { minLength: 5, maxLength: 30 }));
	}, 120_000);

	it("… with the deployed establishment rule, under which only established installations are processed", async () => {
		// Two installations and days passing often, so that some qualify during a run and some never do.
		const slow = operations({ endAgo: fc.nat(48), hours: fc.integer({ min: 1, max: 24 }), maxAdvanceHours: 5 * 24, advanceWeight: 6, installations: 2 });
		await property(DEFAULT_ESTABLISHED, fc.array(slow, { minLength: 10, maxLength: 40 }));
	}, 240_000);
});
