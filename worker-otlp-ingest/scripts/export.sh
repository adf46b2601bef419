#!/usr/bin/env bash
# Pulls the D1 data into a SQLite file for your own analysis (make worker-export).
#
#   scripts/export.sh --local    the local D1 of `make worker-dev` (.wrangler/state)
#   scripts/export.sh --remote   the deployed D1 (needs D1_DATABASE_ID and credentials,
#                                see README "Deploying")
#
# Writes exports/voicemode-otel-<where>.sql (wrangler d1 export) and loads it into
# exports/voicemode-otel-<where>.sqlite with Python's sqlite3 (no sqlite3 CLI needed).
# Open it with: sqlite3 exports/voicemode-otel-local.sqlite  (or any SQLite client).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"

case "${1:-}" in
  --local)
    where=local
    # Creates the tables if `make worker-dev` never ran, so the export is never empty-handed.
    wrangler d1 migrations apply DB --local >&2
    config=(--local)
    ;;
  --remote)
    where=remote
    config=(--remote --config "$(scripts/deploy-config.sh)")
    ;;
  *)
    echo "usage: $0 --local|--remote" >&2
    exit 2
    ;;
esac

mkdir -p exports
sql="exports/voicemode-otel-$where.sql"
db="exports/voicemode-otel-$where.sqlite"
wrangler d1 export DB "${config[@]}" --output "$sql" >&2
rm -f "$db"
python="$(command -v "$PYTHON" || command -v python3)"
"$python" - "$sql" "$db" <<'PY'
import sqlite3, sys
sql, db = sys.argv[1], sys.argv[2]
with open(sql, encoding="utf-8") as f, sqlite3.connect(db) as conn:
    conn.executescript(f.read())
    counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in ("installations", "reports", "rate_limits")}
print(f"{db}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
PY
