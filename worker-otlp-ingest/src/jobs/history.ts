/**
 * The history's cron work (SQL in db/history.ts): the backfill of reports stored before
 * migration 0005, in bounded steps like the rollup's, and the daily sealing and
 * two-year retention. New reports need no job of their own: each rollup step counts
 * them into the history in its own transaction.
 */
import { DURATION } from "../contract";
import { backfillStep, failBackfill, nextBackfillEnd, sealAndExpire, unsealedRows, type StoredRow } from "../db/history";
import { retentionCutoff } from "./retention";
import { STEP_REPORTS } from "./rollup";
import { bucketTable, cellIdOf } from "../stats/series";
import { drain, type Drained } from "./steps";
import { protect } from "../stats/suppression";

export type BackfillRun = Drained;

/**
 * Backfill steps until the queue is empty or `maxSteps` slots are used (each costs at
 * most two D1 queries; a last look costs one). Steps take whole installations, as the
 * rollup's do, so a report is counted exactly once; a step that keeps failing is cut
 * down and set aside as the rollup's are (steps.ts).
 */
export function runBackfill(db: D1Database, maxSteps: number, stepReports: number = STEP_REPORTS): Promise<BackfillRun> {
	return drain(
		{
			nextEnd: (size) => nextBackfillEnd(db, size),
			step: async (upTo) => ({ reports: await backfillStep(db, upTo, DURATION.name), rowsRead: 0, rowsWritten: 0 }),
			fail: (id) => failBackfill(db, id),
		},
		stepReports,
		maxSteps,
	);
}

/**
 * Sealing: the rows of `rows` (whole buckets) that a series read would withhold with
 * the threshold `minInstallations`: backed by too few installations, or complements.
 * Deleting exactly those leaves what /v1/stats publishes — a set in which no withheld
 * cell can be computed — and nothing that describes fewer installations. Reading the
 * rest later with the same or another threshold stays safe: a deleted cell then looks
 * empty, and an empty cell is never what keeps a withheld one undetermined.
 */
export function rowsToSeal(rows: readonly StoredRow[], minInstallations: number): StoredRow[] {
	const buckets = new Map<string, StoredRow[]>();
	for (const r of rows) {
		const key = `${r.grain}|${r.start}`;
		const bucket = buckets.get(key);
		if (bucket) bucket.push(r);
		else buckets.set(key, [r]);
	}
	const withheld: StoredRow[] = [];
	for (const bucket of buckets.values()) {
		const { cells, relations } = bucketTable(bucket);
		const { published } = protect(cells, relations, minInstallations);
		for (const r of bucket) {
			const id = cellIdOf(r);
			if (id === null || !published.has(id)) withheld.push(r);
		}
	}
	return withheld;
}

export interface DailyHistory {
	/** Buckets sealed by this run. */
	readonly sealed: number;
	/** Rows deleted: withheld by sealing, or older than two years. */
	readonly rows: number;
}

/**
 * The daily part, after retention: seal the buckets the raw reports no longer cover
 * and drop what is older than two years. Two D1 queries.
 */
export async function runHistoryDaily(db: D1Database, nowMs: number, minInstallations: number): Promise<DailyHistory> {
	const cutoff = retentionCutoff(nowMs);
	const rows = await unsealedRows(db, cutoff);
	const withheld = rowsToSeal(rows, minInstallations).map((r) => [r.grain, r.start, r.kind, r.name, r.a, r.b]);
	const results = await db.batch(sealAndExpire(db, withheld, cutoff, Math.floor(nowMs / 1000)));
	return {
		sealed: new Set(rows.map((r) => `${r.grain}|${r.start}`)).size,
		rows: (results[0]?.meta.changes ?? 0) + (results[2]?.meta.changes ?? 0),
	};
}
