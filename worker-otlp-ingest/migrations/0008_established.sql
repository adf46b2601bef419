-- voicemode-otel ingest Worker: an installation counts once it is established.
--
-- IDs are self-chosen: four IDs minted in a minute, carrying a victim's rare values,
-- lifted every withheld cell of the victim to the threshold of 5 (published minus four
-- was the victim's profile). Now only an established installation's reports reach the
-- rollups and the history (src/established.ts): one whose reports the Worker received on
-- STATS_ESTABLISHED's number of UTC days (3) spanning its number of days (7). Until then
-- its reports wait in rollup_pending.

-- Distinct UTC days on which the Worker received a report of the installation: the
-- report's upsert adds one when its day is later than last_seen_day (src/db.ts), in the
-- same row, so it costs no extra write.
ALTER TABLE installations ADD COLUMN days_seen INTEGER NOT NULL DEFAULT 1;
UPDATE installations SET days_seen = max(1, (
  SELECT COUNT(DISTINCT received_day) FROM reports AS r WHERE r.telemetry_id = installations.telemetry_id
));

-- Reports waiting for their installation to be established, counted by each run's
-- heartbeat for GET /v1/health (not a problem: new installations wait a week).
ALTER TABLE cron_state ADD COLUMN rollup_held INTEGER NOT NULL DEFAULT 0;
