/**
 * The day/week history (src/db/history.ts) equals the live aggregation: random reports
 * (late and out of order ones included), cron runs of random step sizes, forgets,
 * retention (with sealing) and time passing, interleaved; after every operation the
 * stored history equals COUNT(DISTINCT)/SUM per bucket over every report ever counted
 * (a forget does not take counts out of the history), for every bucket the 90 days
 * still cover entirely. Facts add up to the active installations in every bucket; sealed
 * buckets hold only what a series read publishes.
 *
 * As in production, a forgotten installation never comes back under the same ID (the
 * client makes a new one), and no report older than the retention cutoff is accepted.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { RETENTION_CRON, runScheduled } from "../../src/jobs/cron";
import { storeReport } from "../../src/db/reports";
import { rowsToSeal } from "../../src/jobs/history";
import { type StoredRow } from "../../src/db/history";
import { tombstoneKey } from "../../src/ingest/tombstone";
import { retentionCutoff } from "../../src/jobs/retention";
import { runRollup } from "../../src/jobs/rollup";
import { type ReportRows } from "../../src/db/rows";
import { factSumsMismatch, liveHistory, storedHistory, type HistoryRow } from "../support/live-history";
import { DAY, HOUR, IDS, operations, reportRows, type Ingest, type Op } from "../support/model-ops";
import { RULE, NO_TOMBSTONE, forget } from "../support/worker";

const T0 = Date.UTC(2026, 5, 3, 12) / 1000; // a Wednesday
const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "series_buckets", "series_backfill", "all_reports", "erasures"];
const SEAL_THRESHOLD = 2;

const op = operations({
	endAgo: fc.oneof(fc.nat(30), fc.nat(72), fc.nat(90 * 24)),
	hours: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 * 24 })),
	maxAdvanceHours: 30 * 24,
});

/** The ID of installation `i` now: a forget makes a new one, as a re-enrolled client would. */
const generation = new Map<number, number>();
const idOf = (i: number): string => `${IDS[i] ?? ""}.${generation.get(i) ?? 0}`;

const rowsOf = (o: Ingest, now: number): ReportRows => reportRows(o, idOf(o.id), now);

async function reset(): Promise<void> {
	// all_reports keeps every report ever stored (forget and retention delete from `reports` only).
	// frozen = 1: counted, then deleted from `reports` (by a forget or retention).
	await env.DB.batch([
		env.DB.prepare("CREATE TABLE IF NOT EXISTS all_reports (telemetry_id, period_start, period_end, received_day, cells, frozen)"),
		env.DB.prepare(
			"CREATE TRIGGER IF NOT EXISTS keep_all_reports AFTER INSERT ON reports BEGIN INSERT INTO all_reports VALUES (NEW.telemetry_id, NEW.period_start, NEW.period_end, NEW.received_day, NEW.cells, 0); END",
		),
	]);
	generation.clear();
	await env.DB.batch([...TABLES.map((t) => env.DB.prepare(`DELETE FROM ${t}`)), env.DB.prepare("UPDATE rollup_state SET as_of = NULL"), env.DB.prepare("UPDATE cron_state SET sealed_before = 0")]);
}

/** Before `reports` rows matching `where` are deleted: the reference drops those never counted and freezes the rest. */
async function forgetInReference(where: string, ...params: (string | number)[]): Promise<void> {
	const pending = "(telemetry_id, period_start) IN (SELECT telemetry_id, period_start FROM rollup_pending)";
	await env.DB.batch([
		env.DB.prepare(`DELETE FROM all_reports WHERE frozen = 0 AND ${where} AND ${pending}`).bind(...params),
		env.DB.prepare(`UPDATE all_reports SET frozen = 1 WHERE frozen = 0 AND ${where}`).bind(...params),
	]);
}

async function apply(o: Op, now: number): Promise<void> {
	if (o.kind === "ingest") {
		const rows = rowsOf(o, now);
		// Ingest refuses a period that ended before the retention cutoff.
		if (rows.report.period_end < retentionCutoff(now * 1000)) return;
		const id = rows.report.telemetry_id;
		const buckets = [
			{ bucket: `id:${id}`, maxHits: 1_000_000 },
			{ bucket: "ip:test", maxHits: 1_000_000 },
		] as const;
		// Overlapping periods are refused as in production; that is part of the input space.
		const outcome = await storeReport(env.DB, rows, buckets, Math.floor(now / HOUR) * HOUR, await tombstoneKey(env.IP_HASH_KEY, id));
		expect(["stored", "overlap", "duplicate"]).toContain(outcome.kind);
	} else if (o.kind === "cron") {
		await runRollup(env.DB, now * 1000, RULE, { stepReports: o.stepReports, maxSteps: o.maxSteps });
	} else if (o.kind === "forget") {
		const id = idOf(o.id);
		await forgetInReference("telemetry_id = ?1", id);
		await forget(id, now * 1000);
		generation.set(o.id, (generation.get(o.id) ?? 0) + 1);
	} else if (o.kind === "retention") {
		// The daily cron runs a whole rollup first; what it cannot take in expires uncounted.
		await runRollup(env.DB, now * 1000, RULE);
		await forgetInReference("period_end < ?1", retentionCutoff(now * 1000));
		await runScheduled(env.DB, RETENTION_CRON, now * 1000, SEAL_THRESHOLD, RULE);
	}
}

const LENGTH: Record<string, number> = { day: DAY, week: 7 * DAY };
/** Buckets that begin after the retention cutoff: none of their reports was ever deleted. */
const covered = (cutoff: number) => (r: HistoryRow) => r.start >= cutoff;

async function sealedBefore(): Promise<number> {
	return (await env.DB.prepare("SELECT sealed_before AS s FROM cron_state").first<{ s: number }>())?.s ?? 0;
}

describe("history (property: equal to the live aggregation)", () => {
	beforeEach(reset);
	let nonEmpty = 0;

	it("equals COUNT(DISTINCT)/SUM per day and week over every counted report, after every operation", async () => {
		await fc.assert(
			fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
				await reset();
				let now = T0;
				for (const o of ops) {
					if (o.kind === "advance") now += o.hours * HOUR;
					await apply(o, now);
					const cutoff = retentionCutoff(now * 1000);
					expect((await storedHistory()).filter(covered(cutoff))).toEqual((await liveHistory("all_reports")).filter(covered(cutoff)));
					expect(await factSumsMismatch()).toEqual([]);
				}
				// Sealed buckets hold only what a read publishes: sealing them again withholds nothing.
				const stored = (await env.DB.prepare("SELECT * FROM series_buckets").all<StoredRow>()).results;
				const sealed = await sealedBefore();
				const sealedRows = stored.filter((r) => r.start + (LENGTH[r.grain] ?? 0) < sealed);
				expect(rowsToSeal(sealedRows, SEAL_THRESHOLD)).toEqual([]);
				expect(sealedRows.every((r) => r.installations >= SEAL_THRESHOLD)).toBe(true);
				if (stored.length > 0) nonEmpty += 1;
			}),
			{ numRuns: 25 },
		);
		// Not vacuous: most runs build some history.
		expect(nonEmpty).toBeGreaterThan(12);
	}, 180_000);
});

describe("history (examples)", () => {
	beforeEach(reset);
	const report = (id: number, endHour: number, cells: [number, number][], facts = [1, 1, 1, 1, 1]) =>
		rowsOf({ kind: "ingest", id, endAgo: 0, hours: 1, cells, facts }, endHour);
	const store = async (rows: ReportRows) => expect((await storeReport(env.DB, rows, [{ bucket: `id:${rows.report.telemetry_id}`, maxHits: 99 }, { bucket: "ip:t", maxHits: 99 }], 0, NO_TOMBSTONE)).kind).toBe("stored");

	it("counts an installation once per day and once per week, whatever its number of reports", async () => {
		// Two reports of one installation on Wednesday, one on Thursday; another installation on Thursday.
		await store(report(0, T0 - 2 * HOUR, [[0, 1]]));
		await store(report(0, T0, [[0, 2]]));
		await runRollup(env.DB, T0 * 1000, RULE);
		await store(report(0, T0 + DAY, [[0, 1]]));
		await store(report(1, T0 + DAY, [[1, 1]]));
		await runRollup(env.DB, (T0 + DAY) * 1000, RULE);
		const rows = await env.DB.prepare("SELECT grain, start, total, installations FROM series_buckets WHERE kind = 'reports' ORDER BY grain, start").all();
		const wednesday = Date.UTC(2026, 5, 3) / 1000;
		const monday = Date.UTC(2026, 5, 1) / 1000;
		expect(rows.results).toEqual([
			{ grain: "day", start: wednesday, total: 2, installations: 1 },
			{ grain: "day", start: wednesday + DAY, total: 2, installations: 2 },
			{ grain: "week", start: monday, total: 4, installations: 2 },
		]);
	});

	it("counts a late report's installation in its own day, even next to a counted report that began that day", async () => {
		const thursday = Date.UTC(2026, 5, 4) / 1000;
		// Counted first: Wednesday 21:00 to Thursday 02:00 (Thursday's bucket).
		await store({ ...report(0, thursday + 2 * HOUR, [[0, 1]]), report: { ...report(0, thursday + 2 * HOUR, [[0, 1]]).report, period_start: thursday - 3 * HOUR } });
		await runRollup(env.DB, (thursday + 3 * HOUR) * 1000, RULE);
		// Then a late one ending Wednesday 20:00.
		await store(report(0, thursday - 4 * HOUR, [[0, 1]]));
		await runRollup(env.DB, (thursday + 4 * HOUR) * 1000, RULE);
		const days = await env.DB.prepare("SELECT start, total, installations FROM series_buckets WHERE grain = 'day' AND kind = 'reports' ORDER BY start").all();
		expect(days.results).toEqual([
			{ start: thursday - DAY, total: 1, installations: 1 },
			{ start: thursday, total: 1, installations: 1 },
		]);
		expect(await storedHistory()).toEqual(await liveHistory());
	});

	it("puts a report ending at midnight in the day before (its last covered hour)", async () => {
		const midnight = Date.UTC(2026, 5, 4) / 1000;
		await store(report(0, midnight, [[0, 1]]));
		await runRollup(env.DB, midnight * 1000, RULE);
		const row = await env.DB.prepare("SELECT start FROM series_buckets WHERE grain = 'day' AND kind = 'reports'").first<{ start: number }>();
		expect(row?.start).toBe(midnight - DAY);
	});

	it("counts an installation's facts once per bucket, as they were when the bucket first counted it", async () => {
		await store(report(0, T0 - HOUR, [[0, 1]], [1, 1, 1, 1, 1]));
		await runRollup(env.DB, T0 * 1000, RULE);
		// Upgraded later the same day: the day keeps "x", the next day counts "y".
		await store(report(0, T0 + HOUR, [[0, 1]], [2, 2, 2, 2, 2]));
		await store(report(0, T0 + DAY, [[0, 1]], [2, 2, 2, 2, 2]));
		await runRollup(env.DB, (T0 + DAY) * 1000, RULE);
		const facts = await env.DB.prepare("SELECT grain, start, a, installations FROM series_buckets WHERE kind = 'fact' AND name = 'service_version' ORDER BY grain, start").all();
		const wednesday = Date.UTC(2026, 5, 3) / 1000;
		expect(facts.results).toEqual([
			{ grain: "day", start: wednesday, a: "x", installations: 1 },
			{ grain: "day", start: wednesday + DAY, a: "y", installations: 1 },
			{ grain: "week", start: Date.UTC(2026, 5, 1) / 1000, a: "x", installations: 1 },
		]);
	});

	it("keeps the history when an installation is forgotten, and its rows carry no ID", async () => {
		await store(report(0, T0, [[0, 1]]));
		await runRollup(env.DB, T0 * 1000, RULE);
		const before = await storedHistory();
		await forget(IDS[0] ?? "", Date.now());
		expect(await storedHistory()).toEqual(before);
		const text = JSON.stringify((await env.DB.prepare("SELECT * FROM series_buckets").all()).results);
		for (const id of IDS) expect(text).not.toContain(id);
	});

	it("deletes buckets more than two years old", async () => {
		await store(report(0, T0, [[0, 1]]));
		await runRollup(env.DB, T0 * 1000, RULE);
		const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM series_buckets").first<{ n: number }>())?.n;
		expect(await count()).toBeGreaterThan(0);
		await runScheduled(env.DB, RETENTION_CRON, (T0 + 729 * DAY) * 1000, 1, RULE);
		expect(await count()).toBeGreaterThan(0);
		// The day ended 2 years ago; its week (Monday to Sunday) only a few days later.
		await runScheduled(env.DB, RETENTION_CRON, (T0 + 731 * DAY) * 1000, 1, RULE);
		expect((await env.DB.prepare("SELECT DISTINCT grain FROM series_buckets").all()).results).toEqual([{ grain: "week" }]);
		await runScheduled(env.DB, RETENTION_CRON, (T0 + 735 * DAY) * 1000, 1, RULE);
		expect(await count()).toBe(0);
	});
});
