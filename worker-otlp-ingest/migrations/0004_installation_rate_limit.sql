-- voicemode-otel ingest Worker: the per-installation rate limit moves into `installations`.
--
-- An accepted report wrote 6 D1 rows: its row, its period_end index entry, its rollup
-- queue entry, the installation upsert, and two rate_limits buckets ('id:…' and 'ip:…').
-- The installation row is upserted by every accepted report anyway, so it can carry its
-- own hourly count at no extra row: 5 rows and 3 statements per report, with the limit
-- exactly as strict. The upsert (src/db.ts) counts the report in the current window;
-- going over `limit_max` fails the CHECK and rolls the whole batch back, as the bucket
-- row's CHECK did, so the limit holds under any concurrency. `rate_limits` keeps only
-- the IP buckets; old 'id:' rows expire with their windows (retention).

-- The UTC hour (unix seconds) the counted reports were accepted in.
ALTER TABLE installations ADD COLUMN limit_window INTEGER;
-- Reports accepted per hour for this installation (the Worker's LIMITS.perId).
ALTER TABLE installations ADD COLUMN limit_max INTEGER;
-- Reports accepted in `limit_window`. NULL on rows from before this migration: the
-- next accepted report starts the count at 1.
ALTER TABLE installations ADD COLUMN limit_hits INTEGER CHECK (limit_hits <= limit_max);
