-- voicemode-otel ingest Worker: an erased ID stays erased.
--
-- DELETE /v1/installations/{id} deleted every row of the ID, but a replay of a report
-- stored before (or a report still in flight) stored it all again, for 90 days. Now the
-- erasure leaves a tombstone that ingest checks inside each report's own batch, so no
-- row of the ID can ever be written after the erasure was confirmed, whichever of a
-- racing POST and DELETE runs first (src/db.ts).
--
-- The tombstone is not the ID: `key` is HMAC-SHA256(IP_HASH_KEY, "erased" ‖ "\n" ‖ ID)
-- in hex (src/tombstone.ts), which without the secret cannot be turned back into an ID
-- or matched against a guessed one. It is kept until `until`: the erasure time plus the
-- 90 days after which any report of the ID is too old to accept (contract max_age) and
-- the longest period (server_max_seconds) as margin; the daily retention deletes it then.
CREATE TABLE erasures (
  key    TEXT    NOT NULL PRIMARY KEY,
  until  INTEGER NOT NULL  -- Unix seconds
) WITHOUT ROWID;
