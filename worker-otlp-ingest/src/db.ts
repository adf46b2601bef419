/**
 * Every SQL statement of the Worker on reports, installations and rate limits, as
 * prepared statements with numbered placeholders; the rollup tables' statements are in
 * rollup-db.ts, and batches here include them where a change must reach both. The
 * schema itself lives only in migrations/.
 */
import type { Bucket } from "./ratelimit";
import { expireRollups, forgetInRollups } from "./rollup-db";
import type { ReportRows } from "./rows";

export type StoreOutcome =
	| { kind: "stored"; rowsWritten: number }
	/** The same (telemetry_id, period_start, period_end) is already stored. */
	| { kind: "duplicate" }
	/** A stored report of this ID overlaps the period with other bounds. */
	| { kind: "overlap" }
	| { kind: "rate-limited"; bucket: string }
	/** D1 failed; nothing was written (a batch is one transaction). */
	| { kind: "unavailable" };

const INSERT_REPORT = `
INSERT INTO reports (telemetry_id, period_start, period_end, received_day, cells)
VALUES (?1, ?2, ?3, ?4, ?5)`;

/**
 * The installation's row with the latest report's facts, and its hourly rate limit
 * (migration 0004): the report is counted in `limit_hits` for window ?8; past
 * `limit_max` (?9) the CHECK fails and the batch rolls back. SET expressions read the
 * row as it was, so the count restarts at 1 in a new window.
 */
const UPSERT_INSTALLATION = `
INSERT INTO installations
  (telemetry_id, first_seen_day, last_seen_day, service_version, os_type, install_method, mcp_host, exec_source,
   limit_window, limit_hits, limit_max)
VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9)
ON CONFLICT (telemetry_id) DO UPDATE SET
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
VALUES (?1, ?2, 1, ?3)
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
 * and the IP bucket's hit (`buckets[1]`). Any failure rolls all of it back; the stored
 * state is then read to say why (a duplicate, an overlap, a full limit), so no D1 error
 * message is ever parsed. Duplicates and refusals write nothing.
 */
export async function storeReport(
	db: D1Database,
	rows: ReportRows,
	buckets: readonly [Bucket, Bucket],
	windowStart: number,
): Promise<StoreOutcome> {
	const { report, installation } = rows;
	const f = installation.facts;
	const statements = [
		db.prepare(INSERT_REPORT).bind(report.telemetry_id, report.period_start, report.period_end, report.received_day, JSON.stringify(report.cells)),
		db
			.prepare(UPSERT_INSTALLATION)
			.bind(installation.telemetry_id, installation.seen_day, f.service_version, f.os_type, f.install_method, f.mcp_host, f.exec_source, windowStart, buckets[0].maxHits),
		db.prepare(HIT_BUCKET).bind(buckets[1].bucket, windowStart, buckets[1].maxHits),
	];
	try {
		const results = await db.batch(statements);
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
 * Deletes every row of one installation (its reports, its row with its hourly count, and
 * any 'id:' bucket a Worker before migration 0004 wrote)
 * and takes it out of the rollups, in one batch: the published numbers never include
 * an installation whose rows are gone.
 */
export async function deleteInstallation(db: D1Database, telemetryId: string, idBucket: string): Promise<void> {
	await db.batch([
		...forgetInRollups(db, telemetryId),
		db.prepare("DELETE FROM reports WHERE telemetry_id = ?1").bind(telemetryId),
		db.prepare("DELETE FROM installations WHERE telemetry_id = ?1").bind(telemetryId),
		db.prepare("DELETE FROM rate_limits WHERE bucket = ?1").bind(idBucket),
	]);
}

export interface Deleted {
	readonly reports: number;
	readonly installations: number;
	readonly rateLimits: number;
	/** Rollup rows and counted installations that expired with the reports. */
	readonly rollupRows: number;
}

/**
 * Retention: reports whose period ended before `reportsBefore` (Unix seconds) and
 * their rollup rows, installations last seen before `daysBefore` (YYYY-MM-DD), and
 * rate-limit windows that started before `windowsBefore`. One batch.
 */
export async function deleteExpired(
	db: D1Database,
	reportsBefore: number,
	daysBefore: string,
	windowsBefore: number,
): Promise<Deleted> {
	const [reports, installations, rateLimits, ...rollups] = await db.batch([
		db.prepare("DELETE FROM reports WHERE period_end < ?1").bind(reportsBefore),
		db.prepare("DELETE FROM installations WHERE last_seen_day < ?1").bind(daysBefore),
		db.prepare("DELETE FROM rate_limits WHERE window_start < ?1").bind(windowsBefore),
		...expireRollups(db, reportsBefore),
	]);
	return {
		reports: reports?.meta.changes ?? 0,
		installations: installations?.meta.changes ?? 0,
		rateLimits: rateLimits?.meta.changes ?? 0,
		rollupRows: rollups.reduce((n, r) => n + (r.meta.changes ?? 0), 0),
	};
}
