-- voicemode-otel ingest schema, version 1.
--
-- Shaped by D1's billing unit, "rows written" (every table row and every index entry
-- an INSERT/UPDATE touches): an accepted report writes one `reports` row (plus its one
-- index entry), upserts one `installations` row and two `rate_limits` rows, and nothing
-- else. Tables are WITHOUT ROWID so the composite primary key *is* the table and costs
-- no second index entry. See README.md "D1 schema" for the queries this serves.

-- One row per installation (anonymous telemetry ID), holding the environment facts
-- of its latest accepted report. NULL means the client did not send that fact
-- ("unknown").
CREATE TABLE installations (
  telemetry_id    TEXT NOT NULL PRIMARY KEY,
  first_seen_day  TEXT NOT NULL,  -- UTC day (YYYY-MM-DD) the first report arrived
  last_seen_day   TEXT NOT NULL,  -- UTC day the latest report arrived
  service_version TEXT,
  os_type         TEXT,
  install_method  TEXT,
  mcp_host        TEXT,
  exec_source     TEXT
) WITHOUT ROWID;

-- One row per accepted report: one installation's period [period_start, period_end),
-- in unix seconds, whole UTC hours. `cells` is a JSON array holding only the non-empty
-- histogram bins and provider counts of the report, e.g.
--   [{"metric":"voicemode.session.duration","transport":"local","bin":"<1min","sessions":2},
--    {"metric":"voicemode.session.providers","role":"tts","provider":"kokoro","sessions":2}]
-- Read it through the `report_cells` view below rather than with JSON functions.
CREATE TABLE reports (
  telemetry_id  TEXT    NOT NULL,
  period_start  INTEGER NOT NULL,
  period_end    INTEGER NOT NULL,
  received_day  TEXT    NOT NULL,  -- UTC day (YYYY-MM-DD) the Worker stored it
  cells         TEXT    NOT NULL CHECK (json_valid(cells)),
  PRIMARY KEY (telemetry_id, period_start),
  CHECK (period_start < period_end)
) WITHOUT ROWID;

-- Stats windows and the retention job select reports by period end.
CREATE INDEX reports_by_period_end ON reports (period_end);

-- Periods of one installation never overlap. Checked inside the insert's own
-- transaction, so two racing requests cannot both get in. An identical resend also
-- lands here; the Worker then reads what is stored to tell a duplicate (200, nothing
-- added) from an overlap (rejected).
CREATE TRIGGER reports_no_overlap
BEFORE INSERT ON reports
WHEN EXISTS (
  SELECT 1 FROM reports
  WHERE telemetry_id = NEW.telemetry_id
    AND period_start < NEW.period_end
    AND NEW.period_start < period_end
)
BEGIN
  SELECT RAISE(ABORT, 'report period overlaps a stored report');
END;

-- Fixed one-hour windows of accepted reports per bucket: 'id:<telemetry id>' or
-- 'ip:<HMAC-SHA256(IP_HASH_KEY, ip || UTC day)>' (never a raw IP). The upsert runs in
-- the same DB.batch as the report insert; going over max_hits fails the CHECK and
-- rolls the whole batch back, so the limit holds under any concurrency.
CREATE TABLE rate_limits (
  bucket        TEXT    NOT NULL,
  window_start  INTEGER NOT NULL,  -- unix seconds, start of the UTC hour
  hits          INTEGER NOT NULL,
  max_hits      INTEGER NOT NULL,
  PRIMARY KEY (bucket, window_start),
  CHECK (hits <= max_hits)
) WITHOUT ROWID;

-- The cells of every report, one row per non-empty bin or provider count: the shape
-- analysis queries want ("sessions per duration bin over the last 30 days" is a
-- GROUP BY bin over this view). A view costs no writes.
CREATE VIEW report_cells AS
SELECT
  r.telemetry_id,
  r.period_start,
  r.period_end,
  r.received_day,
  json_extract(c.value, '$.metric')   AS metric,
  json_extract(c.value, '$.transport') AS transport,
  json_extract(c.value, '$.bin')      AS bin,
  json_extract(c.value, '$.role')     AS role,
  json_extract(c.value, '$.provider') AS provider,
  json_extract(c.value, '$.sessions') AS sessions
FROM reports AS r, json_each(r.cells) AS c;
