-- voicemode-otel ingest Worker: compact cells and hourly rollups.
--
-- 1. `reports.cells` becomes a JSON array of small integer tuples [m, a, b, sessions]
--    (src/cells.ts) instead of verbose objects: ~9x less per report on disk. The names
--    behind each (m, a, b) are the rows of `cell_names`, so `report_cells` keeps its
--    columns and every query written against it works unchanged.
-- 2. Rollups, maintained by the hourly cron (src/rollup.ts, SQL in src/rollup-db.ts):
--    /v1/stats reads a few rows per hour of its window instead of every cell of every
--    report. `rollup_pending` queues what ingest stored since the last run.
--
-- Existing rows are converted here, and every existing report is queued, so the first
-- cron runs after this migration build the rollups from what is already stored.

-- The names behind each cell code, one row per code the contract allows: m = metric's
-- index in contract.json `metrics`; a = index of its first attribute's value (transport,
-- or provider role); b = bin index (histograms) or provider name index. Indexes stay
-- valid while value lists only grow at the end; a Worker test compares this table with
-- contract.json, so a new contract value fails it until a migration adds its rows.
CREATE TABLE cell_names (
  m         INTEGER NOT NULL,
  a         INTEGER NOT NULL,
  b         INTEGER NOT NULL,
  metric    TEXT    NOT NULL,
  transport TEXT,
  bin       TEXT,
  role      TEXT,
  provider  TEXT,
  PRIMARY KEY (m, a, b)
) WITHOUT ROWID;

-- Names → code, for the conversion below and for hand-written SQL (51 entries).
CREATE UNIQUE INDEX cell_names_by_name ON cell_names (metric, transport, bin, role, provider);

INSERT INTO cell_names (m, a, b, metric, transport, bin, role, provider) VALUES
  (0, 0, 0, 'voicemode.session.duration', 'local', '<1min', NULL, NULL),
  (0, 0, 1, 'voicemode.session.duration', 'local', '1-5min', NULL, NULL),
  (0, 0, 2, 'voicemode.session.duration', 'local', '5-10min', NULL, NULL),
  (0, 0, 3, 'voicemode.session.duration', 'local', '10-20min', NULL, NULL),
  (0, 0, 4, 'voicemode.session.duration', 'local', '20-60min', NULL, NULL),
  (0, 0, 5, 'voicemode.session.duration', 'local', '>60min', NULL, NULL),
  (0, 1, 0, 'voicemode.session.duration', 'livekit', '<1min', NULL, NULL),
  (0, 1, 1, 'voicemode.session.duration', 'livekit', '1-5min', NULL, NULL),
  (0, 1, 2, 'voicemode.session.duration', 'livekit', '5-10min', NULL, NULL),
  (0, 1, 3, 'voicemode.session.duration', 'livekit', '10-20min', NULL, NULL),
  (0, 1, 4, 'voicemode.session.duration', 'livekit', '20-60min', NULL, NULL),
  (0, 1, 5, 'voicemode.session.duration', 'livekit', '>60min', NULL, NULL),
  (0, 2, 0, 'voicemode.session.duration', 'unknown', '<1min', NULL, NULL),
  (0, 2, 1, 'voicemode.session.duration', 'unknown', '1-5min', NULL, NULL),
  (0, 2, 2, 'voicemode.session.duration', 'unknown', '5-10min', NULL, NULL),
  (0, 2, 3, 'voicemode.session.duration', 'unknown', '10-20min', NULL, NULL),
  (0, 2, 4, 'voicemode.session.duration', 'unknown', '20-60min', NULL, NULL),
  (0, 2, 5, 'voicemode.session.duration', 'unknown', '>60min', NULL, NULL),
  (1, 0, 0, 'voicemode.session.exchanges', 'local', '0', NULL, NULL),
  (1, 0, 1, 'voicemode.session.exchanges', 'local', '1-5', NULL, NULL),
  (1, 0, 2, 'voicemode.session.exchanges', 'local', '6-10', NULL, NULL),
  (1, 0, 3, 'voicemode.session.exchanges', 'local', '11-20', NULL, NULL),
  (1, 0, 4, 'voicemode.session.exchanges', 'local', '>20', NULL, NULL),
  (1, 1, 0, 'voicemode.session.exchanges', 'livekit', '0', NULL, NULL),
  (1, 1, 1, 'voicemode.session.exchanges', 'livekit', '1-5', NULL, NULL),
  (1, 1, 2, 'voicemode.session.exchanges', 'livekit', '6-10', NULL, NULL),
  (1, 1, 3, 'voicemode.session.exchanges', 'livekit', '11-20', NULL, NULL),
  (1, 1, 4, 'voicemode.session.exchanges', 'livekit', '>20', NULL, NULL),
  (1, 2, 0, 'voicemode.session.exchanges', 'unknown', '0', NULL, NULL),
  (1, 2, 1, 'voicemode.session.exchanges', 'unknown', '1-5', NULL, NULL),
  (1, 2, 2, 'voicemode.session.exchanges', 'unknown', '6-10', NULL, NULL),
  (1, 2, 3, 'voicemode.session.exchanges', 'unknown', '11-20', NULL, NULL),
  (1, 2, 4, 'voicemode.session.exchanges', 'unknown', '>20', NULL, NULL),
  (2, 0, 0, 'voicemode.session.providers', NULL, NULL, 'tts', 'openai'),
  (2, 0, 1, 'voicemode.session.providers', NULL, NULL, 'tts', 'kokoro'),
  (2, 0, 2, 'voicemode.session.providers', NULL, NULL, 'tts', 'whisper-local'),
  (2, 0, 3, 'voicemode.session.providers', NULL, NULL, 'tts', 'openai-whisper'),
  (2, 0, 4, 'voicemode.session.providers', NULL, NULL, 'tts', 'mlx-audio'),
  (2, 0, 5, 'voicemode.session.providers', NULL, NULL, 'tts', 'no-op'),
  (2, 0, 6, 'voicemode.session.providers', NULL, NULL, 'tts', 'local'),
  (2, 0, 7, 'voicemode.session.providers', NULL, NULL, 'tts', 'other'),
  (2, 0, 8, 'voicemode.session.providers', NULL, NULL, 'tts', 'unknown'),
  (2, 1, 0, 'voicemode.session.providers', NULL, NULL, 'stt', 'openai'),
  (2, 1, 1, 'voicemode.session.providers', NULL, NULL, 'stt', 'kokoro'),
  (2, 1, 2, 'voicemode.session.providers', NULL, NULL, 'stt', 'whisper-local'),
  (2, 1, 3, 'voicemode.session.providers', NULL, NULL, 'stt', 'openai-whisper'),
  (2, 1, 4, 'voicemode.session.providers', NULL, NULL, 'stt', 'mlx-audio'),
  (2, 1, 5, 'voicemode.session.providers', NULL, NULL, 'stt', 'no-op'),
  (2, 1, 6, 'voicemode.session.providers', NULL, NULL, 'stt', 'local'),
  (2, 1, 7, 'voicemode.session.providers', NULL, NULL, 'stt', 'other'),
  (2, 1, 8, 'voicemode.session.providers', NULL, NULL, 'stt', 'unknown');

-- Convert stored cells, keeping each report's cells in canonical (m, a, b) order, the
-- order the Worker writes (src/cells.ts encodeCells).
DROP VIEW report_cells;

UPDATE reports SET cells = (
  SELECT json_group_array(json(t)) FROM (
    SELECT json_array(n.m, n.a, n.b, json_extract(c.value, '$.sessions')) AS t
    FROM json_each(reports.cells) AS c
    JOIN cell_names AS n
      ON  n.metric    =  json_extract(c.value, '$.metric')
      AND n.transport IS json_extract(c.value, '$.transport')
      AND n.bin       IS json_extract(c.value, '$.bin')
      AND n.role      IS json_extract(c.value, '$.role')
      AND n.provider  IS json_extract(c.value, '$.provider')
    ORDER BY n.m, n.a, n.b
  )
);

-- The cells of every report, one row per non-empty bin or provider count, by name:
-- the same columns as before the compact encoding. A cell whose code had no name would
-- show with NULL names rather than vanish (LEFT JOIN); none can be stored.
CREATE VIEW report_cells AS
SELECT
  r.telemetry_id,
  r.period_start,
  r.period_end,
  r.received_day,
  n.metric,
  n.transport,
  n.bin,
  n.role,
  n.provider,
  json_extract(c.value, '$[3]') AS sessions
FROM reports AS r
CROSS JOIN json_each(r.cells) AS c
LEFT JOIN cell_names AS n
  ON  n.m = json_extract(c.value, '$[0]')
  AND n.a = json_extract(c.value, '$[1]')
  AND n.b = json_extract(c.value, '$[2]');

-- Reports stored but not yet in the rollups: the trigger below adds one row with each
-- report, inside the same transaction; the cron's step removes the rows it processed in
-- its own batch.
CREATE TABLE rollup_pending (
  telemetry_id  TEXT    NOT NULL,
  period_start  INTEGER NOT NULL,
  PRIMARY KEY (telemetry_id, period_start)
) WITHOUT ROWID;

-- A trigger rather than a statement in ingest's batch: whatever stores a report (ingest,
-- a bulk load, a hand-written INSERT) queues it in the same transaction, so no stored
-- report can be missing from the rollups.
CREATE TRIGGER reports_enqueue_rollup AFTER INSERT ON reports
BEGIN
  INSERT INTO rollup_pending (telemetry_id, period_start) VALUES (NEW.telemetry_id, NEW.period_start);
END;

-- The stats, per hour of period end (`hour`, Unix seconds, a report's period_end).
-- Summing the rows with hour > since gives exactly what /v1/stats computed from raw
-- reports whose period ended after `since`:
--   kind 'bin'       name = metric, a = bin                  total = sessions
--   kind 'provider'  name = metric, a = role, b = provider   total = sessions
--   kind 'transport' name = metric, a = transport            total = sessions (duration histogram)
--   kind 'reports'                                           total = reports
--   kind 'fact'      name = installations column, a = value ('' = not sent), total = 0
-- `installations` counts the installations whose LATEST processed report with that key
-- (for 'reports' and 'fact': whose latest report at all, with that fact value) ended in
-- that hour. Each installation is in exactly one hour per key, so the installations with
-- the key in any window ending now are a plain sum: distinct counts, and the suppression
-- rule built on them, stay exact for every window.
CREATE TABLE rollup_hours (
  hour          INTEGER NOT NULL,
  kind          TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  a             TEXT    NOT NULL,
  b             TEXT    NOT NULL,
  total         INTEGER NOT NULL,
  installations INTEGER NOT NULL,
  PRIMARY KEY (hour, kind, name, a, b),
  -- A broken invariant fails the cron's batch (nothing applied) instead of publishing it.
  CHECK (total >= 0 AND installations >= 0)
) WITHOUT ROWID;

-- Per installation, what the rollups counted it as: the end of its latest processed
-- report and the environment facts of its row at that time ('' = not sent). The cron
-- moves the installation between 'reports'/'fact' rows when either changes.
-- key_hours: per stat key (e.g. "b0|<1min|", src/rollup-db.ts KEY), the hour of its latest processed report
-- with that key, a JSON object, so a step finds where to move an installation from
-- without reading its earlier reports.
CREATE TABLE rollup_installations (
  telemetry_id    TEXT    NOT NULL PRIMARY KEY,
  last_end        INTEGER NOT NULL,
  service_version TEXT    NOT NULL,
  os_type         TEXT    NOT NULL,
  install_method  TEXT    NOT NULL,
  mcp_host        TEXT    NOT NULL,
  exec_source     TEXT    NOT NULL,
  key_hours       TEXT    NOT NULL
) WITHOUT ROWID;

-- One row. as_of: Unix seconds of the last rollup step after which nothing was pending:
-- every report stored before then is counted (NULL until the first one).
CREATE TABLE rollup_state (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  as_of  INTEGER
);
INSERT INTO rollup_state (id, as_of) VALUES (1, NULL);

-- Every report already stored waits for the first cron runs.
INSERT INTO rollup_pending (telemetry_id, period_start) SELECT telemetry_id, period_start FROM reports;
