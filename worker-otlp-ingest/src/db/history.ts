/**
 * Every SQL statement on the day/week history (migrations/0005_history.sql): the
 * cron step that counts new reports into it, the backfill of reports stored before it
 * existed, the read behind /v1/stats?series=, sealing and the two-year retention.
 *
 * Invariant, for the reports counted so far (in neither rollup_pending nor
 * series_backfill): series_buckets(grain, start, key).total = the sessions (reports) of
 * those reports in the bucket with that key, and .installations = the distinct
 * installations among them — exactly, for buckets the raw reports still cover
 * (test/db/history.test.ts checks it against COUNT(DISTINCT) on random data). Counting an
 * installation once per bucket needs to know whether it was counted there before:
 * the step reads the installation's other reports in the same bucket (a few, found by
 * primary key), never its whole history. Facts count once per installation and bucket,
 * with the installation's facts when the bucket first counted it, so per bucket the
 * installations per version (or OS, or host) add up to the active installations.
 *
 * A forget deletes the reports and the rollups' share of them but not the history:
 * the history holds no installation ID, only counts the Worker already took in
 * (docs/privacy.md says so). Buckets whose reports the 90-day retention has begun to
 * delete can no longer take a report (ingest refuses periods older than 90 days).
 */
import { DAY_SECONDS, HISTORY_DAYS, SERIES_FACTS, WEEK_SECONDS, type Grain, type SeriesRow } from "./buckets";
import { CONTRACT } from "../contract";
import { DEFAULT_ESTABLISHED, type Established } from "./established";
import { countFailure, nextEnd, takeable, type QueueTable, type StepEnd } from "./queue";
import { INSTALLATION_COLUMNS } from "./rows";

const FACT_COLUMNS = SERIES_FACTS.map((key) => {
	const column = INSTALLATION_COLUMNS[key];
	if (!column) throw new Error(`no installations column for ${key}`);
	return column;
});


/** Bucket start of a Unix-seconds instant `t` (SQL): its UTC day, or the Monday of its week (1970-01-01 was a Thursday). */
function startOf(t: string, grain: string): string {
	const day = `((${t}) / ${DAY_SECONDS})`;
	return `CASE ${grain} WHEN 'day' THEN ${day} * ${DAY_SECONDS} ELSE (${day} - (${day} + 3) % 7) * ${DAY_SECONDS} END`;
}

const GRAIN_TABLE = `grains (grain, len) AS (VALUES ('day', ${DAY_SECONDS}), ('week', ${WEEK_SECONDS}))`;
const LENGTH = `(CASE grain WHEN 'day' THEN ${DAY_SECONDS} ELSE ${WEEK_SECONDS} END)`;

/** The stat keys of a set of cells (the columns of report_cells), one row per (cell, key); `cols` carried through. */
function cellKeys(from: string, cols: string): string {
	return `
  SELECT ${cols}, 'bin' AS kind, metric AS name, bin AS a, '' AS b, sessions FROM ${from} WHERE bin IS NOT NULL
  UNION ALL
  SELECT ${cols}, 'provider', metric, role, provider, sessions FROM ${from} WHERE provider IS NOT NULL
  UNION ALL
  SELECT ${cols}, 'transport', metric, transport, '', sessions FROM ${from} WHERE metric = ?2
  UNION ALL
  SELECT ${cols}, 'sessions', '', '', '', sessions FROM ${from} WHERE metric = ?2`;
}

/** [kind, name] of the per-installation keys: 'reports' and one 'fact' per kept column (json_each). */
const MEMBER_KEYS = `json_each('${JSON.stringify([["reports", ""], ...FACT_COLUMNS.map((c) => ["fact", c])])}')`;
const MEMBER_VALUE = `CASE json_extract(k.value, '$[1]') ${FACT_COLUMNS.map((c) => `WHEN '${c}' THEN coalesce(i.${c}, '')`).join(" ")} ELSE '' END`;

/**
 * One step's additions to the history, for the reports of `queue` with telemetry IDs up
 * to ?1 (?2 = the duration metric). Must run before those reports leave the queue: a
 * report still queued is not yet counted, which is how "earlier" tells the reports
 * counted before from this step's.
 */
function addStatement(queue: QueueTable, rule: Established): string {
	const serverMax = CONTRACT.period.serverMaxSeconds;
	return `
WITH ${GRAIN_TABLE},
placed AS MATERIALIZED (
  SELECT p.telemetry_id, p.period_start, g.grain, g.len, ${startOf("r.period_end - 1", "g.grain")} AS start
  FROM ${queue} AS p
  CROSS JOIN reports AS r ON r.telemetry_id = p.telemetry_id AND r.period_start = p.period_start
  CROSS JOIN grains AS g
  WHERE p.telemetry_id <= ?1 AND ${takeable(queue, rule)}
),
decoded AS MATERIALIZED (
  SELECT c.telemetry_id, c.period_end, c.metric, c.transport, c.bin, c.role, c.provider, c.sessions
  FROM ${queue} AS p CROSS JOIN report_cells AS c ON c.telemetry_id = p.telemetry_id AND c.period_start = p.period_start
  WHERE p.telemetry_id <= ?1 AND ${takeable(queue, rule)}
),
touched AS MATERIALIZED (
  SELECT DISTINCT telemetry_id, grain, len, start FROM placed
),
earlier AS MATERIALIZED (
  SELECT t.telemetry_id, t.grain, t.start, r.period_start
  FROM touched AS t
  CROSS JOIN reports AS r ON r.telemetry_id = t.telemetry_id
    AND r.period_start >= t.start - ${serverMax} AND r.period_start < t.start + t.len
  WHERE r.period_end > t.start AND r.period_end <= t.start + t.len
    AND NOT EXISTS (SELECT 1 FROM rollup_pending AS q WHERE q.telemetry_id = r.telemetry_id AND q.period_start = r.period_start)
    AND NOT EXISTS (SELECT 1 FROM series_backfill AS q WHERE q.telemetry_id = r.telemetry_id AND q.period_start = r.period_start)
),
fresh_cells AS MATERIALIZED (
  SELECT d.telemetry_id, g.grain, ${startOf("d.period_end - 1", "g.grain")} AS start, d.metric, d.transport, d.bin, d.role, d.provider, d.sessions
  FROM decoded AS d CROSS JOIN grains AS g
),
earlier_cells AS MATERIALIZED (
  SELECT e.telemetry_id, e.grain, e.start, c.metric, c.transport, c.bin, c.role, c.provider, c.sessions
  FROM earlier AS e CROSS JOIN report_cells AS c ON c.telemetry_id = e.telemetry_id AND c.period_start = e.period_start
),
fresh_keys AS MATERIALIZED (${cellKeys("fresh_cells", "telemetry_id, grain, start")}),
earlier_keys AS MATERIALIZED (SELECT DISTINCT telemetry_id, grain, start, kind, name, a, b FROM (${cellKeys("earlier_cells", "telemetry_id, grain, start")})),
cell_rows AS (
  SELECT grain, start, kind, name, a, b, SUM(sessions) AS total, 0 AS installations
  FROM fresh_keys GROUP BY grain, start, kind, name, a, b
  UNION ALL
  SELECT grain, start, kind, name, a, b, 0, COUNT(*)
  FROM (SELECT DISTINCT telemetry_id, grain, start, kind, name, a, b FROM fresh_keys) AS k
  WHERE NOT EXISTS (
    SELECT 1 FROM earlier_keys AS o
    WHERE o.telemetry_id = k.telemetry_id AND o.grain = k.grain AND o.start = k.start
      AND o.kind = k.kind AND o.name = k.name AND o.a = k.a AND o.b = k.b
  )
  GROUP BY grain, start, kind, name, a, b
),
newly AS (
  SELECT t.telemetry_id, t.grain, t.start FROM touched AS t
  WHERE NOT EXISTS (SELECT 1 FROM earlier AS e WHERE e.telemetry_id = t.telemetry_id AND e.grain = t.grain AND e.start = t.start)
),
member_rows AS (
  SELECT n.grain, n.start, json_extract(k.value, '$[0]') AS kind, json_extract(k.value, '$[1]') AS name,
         ${MEMBER_VALUE} AS a, '' AS b, 0 AS total, COUNT(*) AS installations
  FROM newly AS n
  LEFT JOIN installations AS i ON i.telemetry_id = n.telemetry_id
  CROSS JOIN ${MEMBER_KEYS} AS k
  GROUP BY 1, 2, 3, 4, 5
),
report_rows AS (
  SELECT grain, start, 'reports' AS kind, '' AS name, '' AS a, '' AS b, COUNT(*) AS total, 0 AS installations
  FROM placed GROUP BY grain, start
)
INSERT INTO series_buckets (grain, start, kind, name, a, b, total, installations)
SELECT grain, start, kind, name, a, b, SUM(total), SUM(installations) FROM (
  SELECT * FROM cell_rows UNION ALL SELECT * FROM member_rows UNION ALL SELECT * FROM report_rows
) WHERE true
GROUP BY grain, start, kind, name, a, b
ON CONFLICT (grain, start, kind, name, a, b) DO UPDATE SET
  total = total + excluded.total, installations = installations + excluded.installations`;
}

/** The backfill's statement (no establishment rule: its reports were published before it existed). */
const ADD_BACKFILL = addStatement("series_backfill", DEFAULT_ESTABLISHED);
const ADD_PENDING = new Map<string, string>();

/** The statement a rollup step runs (before its DEQUEUE) so the history takes in the same reports, under the same rule. */
export function countInHistory(db: D1Database, upTo: string, durationMetric: string, rule: Established): D1PreparedStatement {
	const key = `${rule.days}/${rule.spanDays}`;
	let sql = ADD_PENDING.get(key);
	if (sql === undefined) {
		sql = addStatement("rollup_pending", rule);
		ADD_PENDING.set(key, sql);
	}
	return db.prepare(sql).bind(upTo, durationMetric);
}

/** Where the next backfill step ends (as rollups.ts nextStepEnd); null when nothing takeable is left. */
export function nextBackfillEnd(db: D1Database, size: number): Promise<StepEnd | null> {
	return nextEnd(db, "series_backfill", size, DEFAULT_ESTABLISHED);
}

/** A failed run for the one installation a backfill step held; how many of its reports are set aside now. */
export function failBackfill(db: D1Database, telemetryId: string): Promise<number> {
	return countFailure(db, "series_backfill", telemetryId);
}

/** One backfill step, one transaction: the queued reports up to `upTo` counted, and dequeued. Returns how many. */
export async function backfillStep(db: D1Database, upTo: string, durationMetric: string): Promise<number> {
	const [, dequeued] = await db.batch([
		db.prepare(ADD_BACKFILL).bind(upTo, durationMetric),
		db.prepare(`DELETE FROM series_backfill AS p WHERE telemetry_id <= ?1 AND ${takeable("series_backfill", DEFAULT_ESTABLISHED)}`).bind(upTo),
	]);
	return dequeued?.meta.changes ?? 0;
}

/** The buckets that ended before `reportsBefore` (Unix seconds) and are not sealed yet: grain, start, key. */
const UNSEALED = `
SELECT grain, start, kind, name, a, b, total, installations FROM series_buckets
WHERE start + ${LENGTH} < ?1 AND start + ${LENGTH} >= (SELECT sealed_before FROM cron_state WHERE id = 1)`;

export type { Grain, SeriesRow } from "./buckets";

export interface StoredRow extends SeriesRow {
	readonly grain: Grain;
}

/**
 * The rows sealing must look at: every row of the buckets that ended before the raw
 * reports' retention cutoff `reportsBefore` (their reports are gone or going, and no
 * report can be added to them) and were not sealed before.
 */
export async function unsealedRows(db: D1Database, reportsBefore: number): Promise<StoredRow[]> {
	return (await db.prepare(UNSEALED).bind(reportsBefore).all<StoredRow>()).results;
}

/**
 * The daily batch of the history: delete the rows sealing withholds (each [grain,
 * start, kind, name, a, b], by primary key), mark the buckets before `reportsBefore`
 * sealed, delete buckets older than two years (`now`, Unix seconds), and drop backfill
 * entries whose report expired.
 */
export function sealAndExpire(db: D1Database, withheld: readonly (readonly (string | number)[])[], reportsBefore: number, now: number): D1PreparedStatement[] {
	return [
		db.prepare(`
DELETE FROM series_buckets WHERE (grain, start, kind, name, a, b) IN (
  SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
         json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]')
  FROM json_each(?1)
)`).bind(JSON.stringify(withheld)),
		db.prepare("UPDATE cron_state SET sealed_before = max(sealed_before, ?1) WHERE id = 1").bind(reportsBefore),
		db.prepare(`DELETE FROM series_buckets WHERE start + ${LENGTH} <= ?1`).bind(now - HISTORY_DAYS * DAY_SECONDS),
		db.prepare(
			`DELETE FROM series_backfill AS q
			 WHERE NOT EXISTS (SELECT 1 FROM reports AS r WHERE r.telemetry_id = q.telemetry_id AND r.period_start = q.period_start)`,
		),
	];
}

/** The history rows of buckets starting in [from, to] (Unix seconds), one statement by primary key; and as_of. */
export async function readHistory(db: D1Database, grain: Grain, from: number, to: number): Promise<{ rows: SeriesRow[]; asOf: number | null }> {
	const [rows, state] = await db.batch<Record<string, unknown>>([
		db.prepare("SELECT start, kind, name, a, b, total, installations FROM series_buckets WHERE grain = ?1 AND start >= ?2 AND start <= ?3").bind(grain, from, to),
		db.prepare("SELECT as_of FROM rollup_state WHERE id = 1"),
	]);
	const asOf = state?.results[0]?.as_of;
	return { rows: (rows?.results ?? []) as unknown as SeriesRow[], asOf: typeof asOf === "number" ? asOf : null };
}
