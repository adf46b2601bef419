/**
 * The day/week history (src/history-db.ts) equals the live aggregation: random reports
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
import { cellNames, encodeCells, type Cell } from "../src/cells";
import { RETENTION_CRON, runScheduled } from "../src/cron";
import { deleteInstallation, storeReport } from "../src/db";
import { rowsToSeal } from "../src/history";
import { type StoredRow } from "../src/history-db";
import { utcDay } from "../src/period";
import { idBucket } from "../src/ratelimit";
import { retentionCutoff } from "../src/retention";
import { runRollup } from "../src/rollup";
import { INSTALLATION_COLUMNS, type InstallationColumn, type ReportRows } from "../src/rows";
import { factSumsMismatch, liveHistory, storedHistory, type HistoryRow } from "./support/live-history";

const HOUR = 3_600;
const DAY = 86_400;
const T0 = Date.UTC(2026, 5, 3, 12) / 1000; // a Wednesday
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
const TABLES = ["reports", "installations", "rate_limits", "rollup_pending", "rollup_hours", "rollup_installations", "series_buckets", "series_backfill", "all_reports"];
const SEAL_THRESHOLD = 2;

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
			endAgo: fc.oneof(fc.nat(30), fc.nat(72), fc.nat(90 * 24)),
			hours: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 * 24 })),
			cells: fc.uniqueArray(fc.tuple(fc.nat(NAMES.length - 1), fc.integer({ min: 1, max: 5 })), { maxLength: 6, selector: (c) => c[0] }),
			facts: fc.array(fc.nat(FACT_VALUES.length - 1), { minLength: COLUMNS.length, maxLength: COLUMNS.length }),
		}),
	},
	{ weight: 3, arbitrary: fc.record({ kind: fc.constant("cron" as const), stepReports: fc.integer({ min: 1, max: 4 }), maxSteps: fc.integer({ min: 1, max: 3 }) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("forget" as const), id: fc.nat(IDS.length - 1) }) },
	{ weight: 1, arbitrary: fc.record({ kind: fc.constant("retention" as const) }) },
	{ weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), hours: fc.integer({ min: 1, max: 30 * 24 }) }) },
);

function cellOf(index: number, sessions: number): Cell {
	const n = NAMES[index];
	if (!n) throw new Error("cell index");
	const named = Object.fromEntries(Object.entries({ transport: n.transport, bin: n.bin, role: n.role, provider: n.provider }).filter(([, v]) => v !== null));
	return { metric: n.metric, ...named, sessions };
}

/** The ID of installation `i` now: a forget makes a new one, as a re-enrolled client would. */
const generation = new Map<number, number>();
const idOf = (i: number): string => `${IDS[i] ?? ""}.${generation.get(i) ?? 0}`;

function rowsOf(o: Extract<Op, { kind: "ingest" }>, now: number): ReportRows {
	const id = idOf(o.id);
	const end = Math.floor(now / HOUR) * HOUR - o.endAgo * HOUR;
	const facts = Object.fromEntries(COLUMNS.map((c, i) => [c, FACT_VALUES[o.facts[i] ?? 0] ?? null])) as Record<InstallationColumn, string | null>;
	return {
		installation: { telemetry_id: id, seen_day: utcDay(now * 1000), facts },
		report: { telemetry_id: id, period_start: end - o.hours * HOUR, period_end: end, received_day: utcDay(now * 1000), cells: encodeCells(o.cells.map(([c, s]) => cellOf(c, s))) },
	};
}

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
		const outcome = await storeReport(env.DB, rows, buckets, Math.floor(now / HOUR) * HOUR);
		expect(["stored", "overlap", "duplicate"]).toContain(outcome.kind);
	} else if (o.kind === "cron") {
		await runRollup(env.DB, now * 1000, { stepReports: o.stepReports, maxSteps: o.maxSteps });
	} else if (o.kind === "forget") {
		const id = idOf(o.id);
		await forgetInReference("telemetry_id = ?1", id);
		await deleteInstallation(env.DB, id, idBucket(id).bucket);
		generation.set(o.id, (generation.get(o.id) ?? 0) + 1);
	} else if (o.kind === "retention") {
		// The daily cron runs a whole rollup first; what it cannot take in expires uncounted.
		await runRollup(env.DB, now * 1000);
		await forgetInReference("period_end < ?1", retentionCutoff(now * 1000));
		await runScheduled(env.DB, RETENTION_CRON, now * 1000, SEAL_THRESHOLD);
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
	const store = async (rows: ReportRows) => expect((await storeReport(env.DB, rows, [{ bucket: `id:${rows.report.telemetry_id}`, maxHits: 99 }, { bucket: "ip:t", maxHits: 99 }], 0)).kind).toBe("stored");

	it("counts an installation once per day and once per week, whatever its number of reports", async () => {
		// Two reports of one installation on Wednesday, one on Thursday; another installation on Thursday.
		await store(report(0, T0 - 2 * HOUR, [[0, 1]]));
		await store(report(0, T0, [[0, 2]]));
		await runRollup(env.DB, T0 * 1000);
		await store(report(0, T0 + DAY, [[0, 1]]));
		await store(report(1, T0 + DAY, [[1, 1]]));
		await runRollup(env.DB, (T0 + DAY) * 1000);
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
		await runRollup(env.DB, (thursday + 3 * HOUR) * 1000);
		// Then a late one ending Wednesday 20:00.
		await store(report(0, thursday - 4 * HOUR, [[0, 1]]));
		await runRollup(env.DB, (thursday + 4 * HOUR) * 1000);
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
		await runRollup(env.DB, midnight * 1000);
		const row = await env.DB.prepare("SELECT start FROM series_buckets WHERE grain = 'day' AND kind = 'reports'").first<{ start: number }>();
		expect(row?.start).toBe(midnight - DAY);
	});

	it("counts an installation's facts once per bucket, as they were when the bucket first counted it", async () => {
		await store(report(0, T0 - HOUR, [[0, 1]], [1, 1, 1, 1, 1]));
		await runRollup(env.DB, T0 * 1000);
		// Upgraded later the same day: the day keeps "x", the next day counts "y".
		await store(report(0, T0 + HOUR, [[0, 1]], [2, 2, 2, 2, 2]));
		await store(report(0, T0 + DAY, [[0, 1]], [2, 2, 2, 2, 2]));
		await runRollup(env.DB, (T0 + DAY) * 1000);
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
		await runRollup(env.DB, T0 * 1000);
		const before = await storedHistory();
		await deleteInstallation(env.DB, IDS[0] ?? "", idBucket(IDS[0] ?? "").bucket);
		expect(await storedHistory()).toEqual(before);
		const text = JSON.stringify((await env.DB.prepare("SELECT * FROM series_buckets").all()).results);
		for (const id of IDS) expect(text).not.toContain(id);
	});

	it("deletes buckets more than two years old", async () => {
		await store(report(0, T0, [[0, 1]]));
		await runRollup(env.DB, T0 * 1000);
		const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM series_buckets").first<{ n: number }>())?.n;
		expect(await count()).toBeGreaterThan(0);
		await runScheduled(env.DB, RETENTION_CRON, (T0 + 729 * DAY) * 1000, 1);
		expect(await count()).toBeGreaterThan(0);
		// The day ended 2 years ago; its week (Monday to Sunday) only a few days later.
		await runScheduled(env.DB, RETENTION_CRON, (T0 + 731 * DAY) * 1000, 1);
		expect((await env.DB.prepare("SELECT DISTINCT grain FROM series_buckets").all()).results).toEqual([{ grain: "week" }]);
		await runScheduled(env.DB, RETENTION_CRON, (T0 + 735 * DAY) * 1000, 1);
		expect(await count()).toBe(0);
	});
});
