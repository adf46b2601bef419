-- voicemode-otel ingest Worker: no cron step can block another.
--
-- Before, each cron run was one sequence: a rollup step whose batch kept failing (a
-- sum overflowing, an invariant broken by a row an earlier Worker stored) threw, the
-- same step failed again every hour, nothing queued behind it was ever counted, and the
-- daily run, which did the rollup first, never reached the 90-day retention. Now every
-- step runs on its own (src/cron.ts), a failing step is cut down to the one installation
-- whose reports fail (src/steps.ts), and after SET_ASIDE_AFTER failed runs those reports
-- are set aside: they stay stored and queued (retention deletes them in time like any
-- report) but no step takes them any more, so the rest drains.

-- Failed runs of a step that held this queued report, reached alone (its installation's
-- reports were the whole step). At SET_ASIDE_AFTER (src/steps.ts) it is set aside.
ALTER TABLE rollup_pending ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE series_backfill ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;

-- The steps that failed in the last hourly and the last daily run, as "step (error)"
-- texts joined by "; " (NULL: every step succeeded), and the reports set aside: what
-- GET /v1/health reports (src/health.ts). Counts and error classes only, never an ID.
ALTER TABLE cron_state ADD COLUMN hourly_failed TEXT;
ALTER TABLE cron_state ADD COLUMN daily_failed TEXT;
ALTER TABLE cron_state ADD COLUMN set_aside INTEGER NOT NULL DEFAULT 0;
