-- voicemode-otel ingest Worker: day and week history, kept for two years, and the
-- cron's heartbeat.
--
-- 1. `series_buckets`: per UTC day and per week (Monday to Sunday, UTC), the numbers
--    /v1/stats?series=day|week publishes, with the distinct installations behind each
--    (src/history-db.ts keeps them; src/series.ts shapes and suppresses them). They
--    carry no installation ID, so they may outlive the 90-day raw reports: they are
--    kept for two years. When a bucket leaves the raw reports' 90 days it is sealed:
--    every row /v1/stats would not publish (fewer than STATS_MIN_INSTALLATIONS
--    installations behind it, or withheld as a complement) is deleted, so what is kept
--    longer describes no small group (src/history.ts, docs/privacy.md).
-- 2. `series_backfill`: the reports already stored (and already in the hourly rollups)
--    when this migration runs, for the cron to take into the history in bounded steps.
-- 3. `cron_state`: when each cron last finished and what it left queued, for
--    GET /v1/health (src/health.ts).

-- One row per (grain, bucket, stat key). A report belongs to the bucket holding the
-- last second of its period (period_end - 1). Keys, as in rollup_hours:
--   kind 'reports'    total = reports                      installations = active installations
--   kind 'sessions'   total = sessions                     installations = installations with a session
--   kind 'bin'        name = metric, a = bin               total = sessions
--   kind 'provider'   name = metric, a = role, b = provider total = sessions
--   kind 'transport'  name = metric, a = transport         total = sessions
--   kind 'fact'       name = installations column, a = value ('' = not sent); each active
--                     installation counts once per bucket, with its facts when the bucket
--                     first counted it
-- `installations` is exact: distinct installations with a report in the bucket having
-- that key (the cron checks the installation's reports already counted in the bucket).
CREATE TABLE series_buckets (
  grain         TEXT    NOT NULL CHECK (grain IN ('day', 'week')),
  start         INTEGER NOT NULL,  -- Unix seconds: 00:00 UTC of the day, or of the week's Monday
  kind          TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  a             TEXT    NOT NULL,
  b             TEXT    NOT NULL,
  total         INTEGER NOT NULL,
  installations INTEGER NOT NULL,
  PRIMARY KEY (grain, start, kind, name, a, b),
  CHECK (total >= 0 AND installations >= 0)
) WITHOUT ROWID;

-- Reports stored before this migration, waiting to be counted in the history.
CREATE TABLE series_backfill (
  telemetry_id  TEXT    NOT NULL,
  period_start  INTEGER NOT NULL,
  PRIMARY KEY (telemetry_id, period_start)
) WITHOUT ROWID;

-- Reports still in rollup_pending reach the history with their rollup step; the others
-- wait here.
INSERT INTO series_backfill (telemetry_id, period_start)
SELECT r.telemetry_id, r.period_start FROM reports AS r
WHERE NOT EXISTS (SELECT 1 FROM rollup_pending AS p WHERE p.telemetry_id = r.telemetry_id AND p.period_start = r.period_start);

-- One row. sealed_before: buckets that ended before this (Unix seconds) are sealed.
-- The rest: Unix seconds of the last finished hourly and daily cron runs (NULL: never),
-- and how many reports each queue held after the last run (counted up to 1,000,000).
CREATE TABLE cron_state (
  id                    INTEGER PRIMARY KEY CHECK (id = 1),
  created               INTEGER NOT NULL,
  rollup_finished       INTEGER,
  rollup_left           INTEGER NOT NULL DEFAULT 0,
  backfill_left         INTEGER NOT NULL DEFAULT 0,
  daily_finished        INTEGER,
  sealed_before         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO cron_state (id, created) VALUES (1, unixepoch());
