/**
 * Every SQL statement on the rollup tables (migrations/0002_rollups.sql): the cron's
 * step, the stats read, and the parts of a forget and of retention that keep the
 * rollups equal to the reports. A module of its own because these statements only make
 * sense together: each keeps the same invariant, stated once here.
 *
 * Invariant, for the reports not in `rollup_pending` ("processed"), those of erased
 * installations included (their reports are deleted, what they added stays until it
 * ages out: forgetInRollups):
 *   - rollup_hours(h, key).total = the sessions (or reports) of processed reports that
 *     ended at hour h, per key;
 *   - rollup_hours(h, key).installations = the installations whose latest processed
 *     report with that key ended at h ('reports'/'fact': latest processed report at
 *     all, fact values as in rollup_installations, or as last counted for an erased one);
 *   - rollup_installations = each installation's latest processed period end and facts,
 *     and per key the hour of its latest processed report with that key (`key_hours`;
 *     a key whose hour retention has passed may linger there, counted nowhere).
 * So SUM over hour > since equals the live aggregation over the processed reports
 * whose period ended after `since`, for any `since` (test/db/rollups.test.ts checks it on
 * random data). Stat keys come from the `report_cells` view by name, exactly as the
 * live query grouped them: (metric, bin), (metric, role, provider), (duration, transport).
 */

import { CONTRACT, DURATION } from "../contract";
import { countInHistory } from "./history";
import { countFailure, nextEnd, takeable, type StepCost, type StepEnd } from "./queue";
import { INSTALLATION_COLUMNS } from "./rows";
import type { Established } from "./established";

/** The stat keys a set of cells feeds, one row per (cell, key); `cols` are carried through. */
function statKeys(from: string, cols: string, durationParam: string): string {
	return `
  SELECT ${cols}, 'bin' AS kind, metric AS name, bin AS a, '' AS b, sessions FROM ${from} WHERE bin IS NOT NULL
  UNION ALL
  SELECT ${cols}, 'provider', metric, role, provider, sessions FROM ${from} WHERE provider IS NOT NULL
  UNION ALL
  SELECT ${cols}, 'transport', metric, transport, '', sessions FROM ${from} WHERE metric = ${durationParam}`;
}

/** The installations columns that the 'fact' rows count. */
const FACT_COLUMNS = Object.values(INSTALLATION_COLUMNS);

/**
 * The per-installation keys, as a JSON table of [kind, name] for json_each: 'reports'
 * and one 'fact' per column. (D1 allows at most 5 terms in a compound SELECT, so these
 * six keys cannot be a UNION ALL.)
 */
const INSTALLATION_KEYS = `json_each('${JSON.stringify([["reports", ""], ...FACT_COLUMNS.map((c) => ["fact", c])])}')`;

/** The value of key `k` (a json_each row of INSTALLATION_KEYS) among columns named `prefix` + column. */
function keyValue(k: string, prefix: string): string {
	const cases = FACT_COLUMNS.map((c) => `WHEN '${c}' THEN ${prefix}${c}`).join(" ");
	return `CASE json_extract(${k}.value, '$[1]') ${cases} ELSE '' END`;
}

/** A step's statements under an establishment rule (established.ts), built once per rule. */
interface StepSql {
	readonly ADD_TOTALS: string;
	readonly MOVE_KEYS: string;
	readonly MOVE_INSTALLATIONS_IN: string;
	readonly MOVE_INSTALLATIONS_OUT: string;
	readonly DROP_EMPTY_FACTS: string;
	readonly SAVE_INSTALLATIONS: string;
	readonly DEQUEUE: string;
	readonly MARK_AS_OF: string;
}

const built = new Map<string, StepSql>();

function stepSql(rule: Established): StepSql {
	const cacheKey = `${rule.days}/${rule.spanDays}`;
	const cached = built.get(cacheKey);
	if (cached) return cached;
	/**
	 * The pending rows of this step: ?1 is the highest telemetry ID included. A plain range
	 * on the primary key, so each statement reads only the step's rows of the queue, never
	 * the whole queue (a backlog after migration 0002 holds every stored report).
	 */
	const IN_STEP = `p.telemetry_id <= ?1 AND ${takeable("rollup_pending", rule)}`;
	// The statements join the queue to `reports` with CROSS JOIN, which SQLite never
	// reorders: the queue drives, so a step reads its own reports by primary key. Left to
	// the planner, the range above is applied to `reports` instead, which in steady state
	// (a few thousand new reports scattered over every ID) reads the whole table.

	/** 1. Sessions and report counts of the step's reports, added at their hours. */
	const ADD_TOTALS = `
	WITH cells AS MATERIALIZED (
	  SELECT c.period_end AS hour, c.metric, c.transport, c.bin, c.role, c.provider, c.sessions
	  FROM rollup_pending AS p
	  CROSS JOIN report_cells AS c ON c.telemetry_id = p.telemetry_id AND c.period_start = p.period_start
	  WHERE ${IN_STEP}
	),
	keyed AS (${statKeys("cells", "hour", "?2")}
	  UNION ALL
	  SELECT r.period_end, 'reports', '', '', '', 1
	  FROM rollup_pending AS p
	  CROSS JOIN reports AS r ON r.telemetry_id = p.telemetry_id AND r.period_start = p.period_start
	  WHERE ${IN_STEP}
	)
	INSERT INTO rollup_hours (hour, kind, name, a, b, total, installations)
	SELECT hour, kind, name, a, b, SUM(sessions), 0 FROM keyed WHERE true GROUP BY hour, kind, name, a, b
	ON CONFLICT (hour, kind, name, a, b) DO UPDATE SET total = total + excluded.total`;

	/**
	 * A stat key as one short string, the member name in `rollup_installations.key_hours`:
	 * the kind's initial and the metric's index in the contract, then a and b, e.g.
	 * "b0|<1min|" (a duration bin), "p2|tts|kokoro", "t0|local|". Short because every
	 * installation row holds one per key it ever reported (up to 32).
	 */
	const METRIC_INDEX = `CASE name ${[...CONTRACT.metrics.values()].map((m, i) => `WHEN '${m.name}' THEN ${i}`).join(" ")} END`;
	const KEY = `substr(kind, 1, 1) || (${METRIC_INDEX}) || '|' || a || '|' || b`;

	/** The stat keys of the step's new reports, per installation, with the latest hour among them. */
	const ARRIVED_KEYS = `
	fresh AS MATERIALIZED (
	  SELECT p.telemetry_id, c.period_end AS hour, c.metric, c.transport, c.bin, c.role, c.provider, c.sessions
	  FROM rollup_pending AS p
	  CROSS JOIN report_cells AS c ON c.telemetry_id = p.telemetry_id AND c.period_start = p.period_start
	  WHERE ${IN_STEP}
	),
	keyed AS (${statKeys("fresh", "telemetry_id, hour", "?2")}),
	arrived_keys AS (
	  SELECT telemetry_id, kind, name, a, b, ${KEY} AS key, MAX(hour) AS new
	  FROM keyed GROUP BY telemetry_id, kind, name, a, b
	)`;

	/**
	 * 2. Each installation of the step moves, per cell key, from the hour of its latest
	 * processed report with that key (if any; `rollup_installations.key_hours`) to the
	 * latest hour among its new reports, when that is later. Reads only the new reports
	 * and one row per installation: never an installation's history. A late report
	 * (older than what is counted) moves nothing. A row moved to exists (it holds the
	 * sessions of the report that ended there); a row moved from exists too unless
	 * retention deleted its hour, and then there is nothing to take the installation out
	 * of. Hence an UPDATE: SQLite checks the CHECK constraint before an upsert's conflict,
	 * so a negative delta cannot go through INSERT … ON CONFLICT.
	 */
	const MOVE_KEYS = `
	WITH ${ARRIVED_KEYS},
	latest AS (
	  SELECT n.kind, n.name, n.a, n.b, n.new,
	         (SELECT json_extract(s.key_hours, '$."' || n.key || '"') FROM rollup_installations AS s WHERE s.telemetry_id = n.telemetry_id) AS old
	  FROM arrived_keys AS n
	),
	moves AS (
	  SELECT old AS hour, kind, name, a, b, -1 AS d FROM latest WHERE new > old
	  UNION ALL
	  SELECT new, kind, name, a, b, 1 FROM latest WHERE old IS NULL OR new > old
	),
	net AS (
	  SELECT hour, kind, name, a, b, SUM(d) AS d FROM moves GROUP BY hour, kind, name, a, b HAVING SUM(d) != 0
	)
	UPDATE rollup_hours AS h SET installations = h.installations + net.d
	FROM net
	WHERE h.hour = net.hour AND h.kind = net.kind AND h.name = net.name AND h.a = net.a AND h.b = net.b`;

	/** The step's installations: their latest new period end, their counted state, their facts now. */
	const STEP_INSTALLATIONS = `
	arrived AS (
	  SELECT p.telemetry_id, MAX(r.period_end) AS new_end
	  FROM rollup_pending AS p
	  CROSS JOIN reports AS r ON r.telemetry_id = p.telemetry_id AND r.period_start = p.period_start
	  WHERE ${IN_STEP}
	  GROUP BY p.telemetry_id
	),
	next AS MATERIALIZED (
	  SELECT n.telemetry_id, s.last_end AS old_end, max(coalesce(s.last_end, 0), n.new_end) AS new_end,
	         ${FACT_COLUMNS.map((c) => `s.${c} AS old_${c}, coalesce(i.${c}, '') AS new_${c}`).join(",\n         ")}
	  FROM arrived AS n
	  LEFT JOIN rollup_installations AS s ON s.telemetry_id = n.telemetry_id
	  LEFT JOIN installations AS i ON i.telemetry_id = n.telemetry_id
	)`;

	/** The step's installations' 'reports' and 'fact' keys: counted (old) and current (new) hour and value. */
	const INSTALLATION_MOVES = `
	WITH ${STEP_INSTALLATIONS},
	keys AS (
	  SELECT old_end, new_end, json_extract(k.value, '$[0]') AS kind, json_extract(k.value, '$[1]') AS name,
	         ${keyValue("k", "old_")} AS old_a, ${keyValue("k", "new_")} AS new_a
	  FROM next CROSS JOIN ${INSTALLATION_KEYS} AS k
	),
	moved AS (
	  SELECT * FROM keys WHERE old_end IS NULL OR old_end != new_end OR old_a != new_a
	)`;

	/**
	 * 3. The 'reports' and 'fact' rows: an installation moves from (its counted end, its
	 * counted facts) to (its latest end, its facts now) when either changed. Facts come
	 * from `installations`, which ingest keeps at the latest report's values. In, then out
	 * (an upsert for rows that may be new; an UPDATE for the decrements, see MOVE_KEYS).
	 */
	const MOVE_INSTALLATIONS_IN = `${INSTALLATION_MOVES}
	INSERT INTO rollup_hours (hour, kind, name, a, b, total, installations)
	SELECT new_end, kind, name, new_a, '', 0, COUNT(*) FROM moved WHERE true GROUP BY new_end, kind, name, new_a
	ON CONFLICT (hour, kind, name, a, b) DO UPDATE SET installations = installations + excluded.installations`;

	const MOVE_INSTALLATIONS_OUT = `${INSTALLATION_MOVES},
	net AS (
	  SELECT old_end AS hour, kind, name, old_a AS a, COUNT(*) AS d FROM moved WHERE old_end IS NOT NULL GROUP BY old_end, kind, name, old_a
	)
	UPDATE rollup_hours AS h SET installations = h.installations - net.d
	FROM net
	WHERE h.hour = net.hour AND h.kind = net.kind AND h.name = net.name AND h.a = net.a AND h.b = ''`;

	/** 4. 'fact' rows the moves emptied (only they can reach zero in a step: cell and 'reports' rows keep their totals). */
	const DROP_EMPTY_FACTS = `
	DELETE FROM rollup_hours
	WHERE kind = 'fact' AND installations = 0
	  AND hour IN (
	    SELECT s.last_end FROM rollup_installations AS s
	    WHERE s.telemetry_id IN (SELECT p.telemetry_id FROM rollup_pending AS p WHERE ${IN_STEP})
	  )`;

	/**
	 * 5. What each installation of the step now counts as: latest end, facts, and the latest
	 * hour per stat key (the counted ones merged with the new reports'). Written only when
	 * it changed: the same row either way, so key_hours costs no extra D1 write.
	 */
	const SAVE_INSTALLATIONS = `
	WITH ${STEP_INSTALLATIONS},
	${ARRIVED_KEYS},
	key_hours AS (
	  SELECT telemetry_id, json_group_object(key, hour) AS key_hours FROM (
	    SELECT telemetry_id, key, MAX(hour) AS hour FROM (
	      SELECT s.telemetry_id, o.key, o.value AS hour
	      FROM next CROSS JOIN rollup_installations AS s ON s.telemetry_id = next.telemetry_id CROSS JOIN json_each(s.key_hours) AS o
	      UNION ALL
	      SELECT telemetry_id, key, new FROM arrived_keys
	    ) GROUP BY telemetry_id, key ORDER BY telemetry_id, key
	  ) GROUP BY telemetry_id
	)
	INSERT INTO rollup_installations (telemetry_id, last_end, ${FACT_COLUMNS.join(", ")}, key_hours)
	SELECT next.telemetry_id, new_end, ${FACT_COLUMNS.map((c) => `new_${c}`).join(", ")}, coalesce(k.key_hours, '{}')
	FROM next LEFT JOIN key_hours AS k ON k.telemetry_id = next.telemetry_id WHERE true
	ON CONFLICT (telemetry_id) DO UPDATE SET
	  last_end = excluded.last_end, ${FACT_COLUMNS.map((c) => `${c} = excluded.${c}`).join(", ")}, key_hours = excluded.key_hours
	WHERE last_end != excluded.last_end OR ${FACT_COLUMNS.map((c) => `${c} != excluded.${c}`).join(" OR ")} OR key_hours != excluded.key_hours`;

	/** 6. The step's reports are processed. */
	const DEQUEUE = `DELETE FROM rollup_pending AS p WHERE ${IN_STEP}`;

	/** 7. Nothing pending any more: every report stored until now is counted. */
	const MARK_AS_OF = `UPDATE rollup_state SET as_of = ?1 WHERE NOT EXISTS (SELECT 1 FROM rollup_pending AS p WHERE ${takeable("rollup_pending", rule)})`;
	const sql = { ADD_TOTALS, MOVE_KEYS, MOVE_INSTALLATIONS_IN, MOVE_INSTALLATIONS_OUT, DROP_EMPTY_FACTS, SAVE_INSTALLATIONS, DEQUEUE, MARK_AS_OF };
	built.set(cacheKey, sql);
	return sql;
}

/**
 * Where a step of about `size` reports ends (every pending report of the IDs up to
 * it, just over `size` when an installation's reports straddle the bound); null when
 * nothing takeable is pending.
 */
export function nextStepEnd(db: D1Database, size: number, rule: Established): Promise<StepEnd | null> {
	return nextEnd(db, "rollup_pending", size, rule);
}

/** A failed run for the one installation a step held; how many of its reports are set aside now. */
export function failStep(db: D1Database, telemetryId: string): Promise<number> {
	return countFailure(db, "rollup_pending", telemetryId);
}

/**
 * One step of the rollup, one DB.batch (one transaction): the pending reports of
 * telemetry IDs up to `upTo` are added to the rollups and to the history (history.ts) and dequeued,
 * and `as_of` becomes `asOf` (Unix seconds) if nothing is left pending. Ingest batches
 * cannot interleave, so a report is either in this step entirely or left for the next;
 * a second run finds nothing pending and changes nothing.
 */
export async function rollupStep(db: D1Database, upTo: string, asOf: number, rule: Established): Promise<StepCost> {
	const sql = stepSql(rule);
	const results = await db.batch([
		db.prepare(sql.ADD_TOTALS).bind(upTo, DURATION.name),
		db.prepare(sql.MOVE_KEYS).bind(upTo, DURATION.name),
		db.prepare(sql.MOVE_INSTALLATIONS_IN).bind(upTo),
		db.prepare(sql.MOVE_INSTALLATIONS_OUT).bind(upTo),
		db.prepare(sql.DROP_EMPTY_FACTS).bind(upTo),
		db.prepare(sql.SAVE_INSTALLATIONS).bind(upTo, DURATION.name),
		// The day/week history takes in the same reports, in the same transaction.
		countInHistory(db, upTo, DURATION.name, rule),
		db.prepare(sql.DEQUEUE).bind(upTo),
		db.prepare(sql.MARK_AS_OF).bind(asOf),
	]);
	return {
		reports: results[results.length - 2]?.meta.changes ?? 0,
		rowsRead: results.reduce((n, r) => n + (r.meta.rows_read ?? 0), 0),
		rowsWritten: results.reduce((n, r) => n + (r.meta.rows_written ?? 0), 0),
	};
}

/**
 * An erasure (same batch as the deletion of the installation's reports): the rows that
 * name the installation go — its counted state and its reports still queued, which no
 * published number holds yet. What its processed reports added to `rollup_hours` stays:
 * those rows hold no ID, only sums shared with every other installation of that hour,
 * like the history's. So an erasure changes no published number — two reads around it
 * are equal (docs/privacy.md) — and the installation's counts leave the windows as
 * their hours age, as those of any installation that stops reporting do. Its
 * tombstone (reports.ts) outlives them: no report of the ID can come back in the meantime.
 */
export function forgetInRollups(db: D1Database, telemetryId: string): D1PreparedStatement[] {
	return [
		db.prepare("DELETE FROM rollup_installations WHERE telemetry_id = ?1").bind(telemetryId),
		db.prepare("DELETE FROM rollup_pending WHERE telemetry_id = ?1").bind(telemetryId),
	];
}

/**
 * Retention, after the reports that ended before `before` are deleted (same batch):
 * their rollup rows go by the same cutoff, and so does the counted state of
 * installations whose latest report went — which keeps the invariant, since a key's
 * latest hour before the cutoff means every report with that key is gone too.
 */
export function expireRollups(db: D1Database, before: number): D1PreparedStatement[] {
	return [
		db.prepare("DELETE FROM rollup_hours WHERE hour < ?1").bind(before),
		db.prepare("DELETE FROM rollup_installations WHERE last_end < ?1").bind(before),
		// Pending reports that expired before any step took them in.
		db.prepare(
			`DELETE FROM rollup_pending AS p
			 WHERE NOT EXISTS (SELECT 1 FROM reports AS r WHERE r.telemetry_id = p.telemetry_id AND r.period_start = p.period_start)`,
		),
	];
}

/** Every stat of the window: one row per key with its summed total and installations. */
const READ = `
SELECT kind, name, a, b, SUM(total) AS total, SUM(installations) AS installations
FROM rollup_hours WHERE hour > ?1
GROUP BY kind, name, a, b HAVING SUM(installations) > 0`;

export interface RollupRow {
	readonly kind: "reports" | "bin" | "provider" | "transport" | "fact";
	readonly name: string;
	readonly a: string;
	readonly b: string;
	readonly total: number;
	readonly installations: number;
}

export interface RollupRead {
	readonly rows: readonly RollupRow[];
	/** rollup_state.as_of, Unix seconds; null before the first complete step. */
	readonly asOf: number | null;
}

/** The rollup rows of reports whose period ended after `since` (Unix seconds), one batch. */
export async function readRollups(db: D1Database, since: number): Promise<RollupRead> {
	const [rows, state] = await db.batch<Record<string, unknown>>([
		db.prepare(READ).bind(since),
		db.prepare("SELECT as_of FROM rollup_state WHERE id = 1"),
	]);
	const asOf = state?.results[0]?.as_of;
	return { rows: (rows?.results ?? []) as unknown as RollupRow[], asOf: typeof asOf === "number" ? asOf : null };
}
