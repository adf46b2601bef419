/**
 * Every SQL statement of the Worker on reports, installations and rate limits, as
 * prepared statements with numbered placeholders; the rollup tables' statements are in
 * rollups.ts, and batches here include them where a change must reach both. The
 * schema itself lives only in migrations/.
 */
import type { Bucket } from "../ingest/ratelimit";
import { expireRollups, forgetInRollups } from "./rollups";
import type { ReportRows } from "./rows";
import type { Tombstone } from "../ingest/tombstone";

export type StoreOutcome =
	| { kind: "stored"; rowsWritten: number }
	/** The ID was erased (a tombstone matches): nothing was written. */
	| { kind: "erased" }
	/** The same (telemetry_id, period_start, period_end) is already stored. */
	| { kind: "duplicate" }
	/** A stored report of this ID overlaps the period with other bounds. */
	| { kind: "overlap" }
	| { kind: "rate-limited"; bucket: string }
	/** D1 failed; nothing was written (a batch is one transaction). */
	| { kind: "unavailable" };

/**
 * Each statement of a report's batch writes only while no tombstone of its ID exists
 * (?T, the ID's key in `erasures`, migration 0007): checked inside the transaction, so
 * an erasure committed first leaves nothing to write, and one committed after deletes
 * what was written. Costs one primary-key read per statement, no row written.
 */
const NOT_ERASED = (param: string) => `NOT EXISTS (SELECT 1 FROM erasures WHERE key = ${param})`;

const INSERT_REPORT = `
INSERT INTO reports (telemetry_id, period_start, period_end, received_day, cells)
SELECT ?1, ?2, ?3, ?4, ?5 WHERE ${NOT_ERASED("?6")}`;

/**
 * The installation's row with the latest report's facts, and its hourly rate limit
 * (migration 0004): the report is counted in `limit_hits` for window ?8; past
 * `limit_max` (?9) the CHECK fails and the batch rolls back. SET expressions read the
 * row as it was, so the count restarts at 1 in a new window, and `days_seen` counts a
 * new UTC day once (migration 0008: when the installation is established).
 */
const UPSERT_INSTALLATION = `
INSERT INTO installations
  (telemetry_id, first_seen_day, last_seen_day, service_version, os_type, install_method, mcp_host, exec_source,
   limit_window, limit_hits, limit_max)
SELECT ?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9 WHERE ${NOT_ERASED("?10")}
ON CONFLICT (telemetry_id) DO UPDATE SET
  days_seen       = days_seen + (excluded.last_seen_day > last_seen_day),
  last_seen_day   = max(last_seen_day, excluded.last_seen_day),
  service_version = excluded.service_version,
  os_type         = excluded.os_type,
  install_method  = excluded.install_method,
  mcp_host        = excluded.mcp_host,
  exec_source     = excluded.exec_source,
  limit_hits      = CASE WHEN limit_window IS excluded.limit_window THEN limit_hits + 1 ELSE 1 END,
  limit_window    = excluded.limit_window,
  limit_max       = excluded.limit_max`;

const HIT_BUCKET = `
INSERT INTO rate_limits (bucket, window_start, hits, max_hits)
SELECT ?1, ?2, 1, ?3 WHERE ${NOT_ERASED("?4")}
ON CONFLICT (bucket, window_start) DO UPDATE SET hits = hits + 1`;

const OVERLAPPING_REPORTS = `
SELECT period_start, period_end FROM reports
WHERE telemetry_id = ?1 AND period_start < ?3 AND ?2 < period_end`;

const FULL_INSTALLATION = `
SELECT 1 AS full FROM installations
WHERE telemetry_id = ?1 AND limit_window = ?2 AND limit_hits >= limit_max`;

const FULL_BUCKET = `
SELECT bucket FROM rate_limits
WHERE window_start = ?1 AND bucket = ?2 AND hits >= max_hits`;

/**
 * Stores one report in one DB.batch (one transaction) of three statements and five rows
 * written: the report row (with its index entry; a trigger puts it in the rollup queue),
 * the installation upsert, which also counts the ID's hourly limit (`buckets[0].maxHits`),
 * and the IP bucket's hit (`buckets[1]`) — each only while no tombstone `erased` (the
 * ID's key, ingest/tombstone.ts) exists: an erased ID writes nothing. Any failure rolls all of
 * it back; the stored state is then read to say why (a duplicate, an overlap, a full
 * limit), so no D1 error message is ever parsed. Duplicates and refusals write nothing.
 */
export async function storeReport(
	db: D1Database,
	rows: ReportRows,
	buckets: readonly [Bucket, Bucket],
	windowStart: number,
	erased: string,
): Promise<StoreOutcome> {
	const { report, installation } = rows;
	const f = installation.facts;
	const statements = [
		db.prepare(INSERT_REPORT).bind(report.telemetry_id, report.period_start, report.period_end, report.received_day, JSON.stringify(report.cells), erased),
		db
			.prepare(UPSERT_INSTALLATION)
			.bind(installation.telemetry_id, installation.seen_day, f.service_version, f.os_type, f.install_method, f.mcp_host, f.exec_source, windowStart, buckets[0].maxHits, erased),
		db.prepare(HIT_BUCKET).bind(buckets[1].bucket, windowStart, buckets[1].maxHits, erased),
	];
	try {
		const results = await db.batch(statements);
		if ((results[0]?.meta.changes ?? 0) === 0) return { kind: "erased" };
		return { kind: "stored", rowsWritten: results.reduce((n, r) => n + (r.meta.rows_written ?? 0), 0) };
	} catch {
		return explainFailure(db, report.telemetry_id, report.period_start, report.period_end, buckets, windowStart);
	}
}

async function explainFailure(
	db: D1Database,
	telemetryId: string,
	start: number,
	end: number,
	buckets: readonly [Bucket, Bucket],
	windowStart: number,
): Promise<StoreOutcome> {
	try {
		const { results: stored } = await db
			.prepare(OVERLAPPING_REPORTS)
			.bind(telemetryId, start, end)
			.all<{ period_start: number; period_end: number }>();
		if (stored.some((r) => r.period_start === start && r.period_end === end)) return { kind: "duplicate" };
		if (stored.length > 0) return { kind: "overlap" };
		const [installation, ip] = await db.batch([
			db.prepare(FULL_INSTALLATION).bind(telemetryId, windowStart),
			db.prepare(FULL_BUCKET).bind(windowStart, buckets[1].bucket),
		]);
		if (installation?.results.length) return { kind: "rate-limited", bucket: buckets[0].bucket };
		if (ip?.results.length) return { kind: "rate-limited", bucket: buckets[1].bucket };
	} catch {
		// D1 is down: fall through.
	}
	return { kind: "unavailable" };
}

/**
 * An erasure, in one batch: every row of the installation goes (its reports, its row
 * with its hourly count, any 'id:' bucket a Worker before migration 0004 wrote), it is
 * taken out of the rollups, and its tombstone is written (or its `until` extended), so
 * no row of the ID can be stored again (`storeReport`). The address's erasure count
 * (`limit`) is hit in the same batch: over it, the CHECK rolls all of it back, and the
 * answer is "rate-limited" — whether or not the ID was known. Throws when D1 fails.
 */
export async function deleteInstallation(
	db: D1Database,
	telemetryId: string,
	idBucket: string,
	erasure: Tombstone,
	limit: { readonly bucket: Bucket; readonly windowStart: number },
): Promise<"deleted" | "rate-limited"> {
	try {
		await db.batch([
			...forgetInRollups(db, telemetryId),
			db.prepare("DELETE FROM reports WHERE telemetry_id = ?1").bind(telemetryId),
			db.prepare("DELETE FROM installations WHERE telemetry_id = ?1").bind(telemetryId),
			db.prepare("DELETE FROM rate_limits WHERE bucket = ?1").bind(idBucket),
			db.prepare("INSERT INTO erasures (key, until) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET until = max(until, excluded.until)").bind(erasure.key, erasure.until),
			db.prepare("INSERT INTO rate_limits (bucket, window_start, hits, max_hits) VALUES (?1, ?2, 1, ?3) ON CONFLICT (bucket, window_start) DO UPDATE SET hits = hits + 1").bind(
				limit.bucket.bucket,
				limit.windowStart,
				limit.bucket.maxHits,
			),
		]);
		return "deleted";
	} catch (error) {
		const full = await db.prepare(FULL_BUCKET).bind(limit.windowStart, limit.bucket.bucket).first();
		if (full) return "rate-limited";
		throw error;
	}
}

export interface Deleted {
	readonly reports: number;
	readonly installations: number;
	readonly rateLimits: number;
	/** Tombstones past their time. */
	readonly erasures: number;
	/** Rollup rows and counted installations that expired with the reports. */
	readonly rollupRows: number;
}

/**
 * Retention: reports whose period ended before `reportsBefore` (Unix seconds) and
 * their rollup rows, installations last seen before `daysBefore` (YYYY-MM-DD),
 * rate-limit windows that started before `windowsBefore`, and tombstones kept until
 * before `now`. One batch.
 */
export async function deleteExpired(
	db: D1Database,
	reportsBefore: number,
	daysBefore: string,
	windowsBefore: number,
	now: number,
): Promise<Deleted> {
	const [reports, installations, rateLimits, erasures, ...rollups] = await db.batch([
		db.prepare("DELETE FROM reports WHERE period_end < ?1").bind(reportsBefore),
		db.prepare("DELETE FROM installations WHERE last_seen_day < ?1").bind(daysBefore),
		db.prepare("DELETE FROM rate_limits WHERE window_start < ?1").bind(windowsBefore),
		db.prepare("DELETE FROM erasures WHERE until < ?1").bind(now),
		...expireRollups(db, reportsBefore),
	]);
	return {
		reports: reports?.meta.changes ?? 0,
		installations: installations?.meta.changes ?? 0,
		rateLimits: rateLimits?.meta.changes ?? 0,
		erasures: erasures?.meta.changes ?? 0,
		rollupRows: rollups.reduce((n, r) => n + (r.meta.changes ?? 0), 0),
	};
}
