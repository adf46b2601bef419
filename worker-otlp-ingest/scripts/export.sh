#!/usr/bin/env bash
# Pulls the D1 data into a SQLite file for your own analysis (make worker-export).
#
#   scripts/export.sh --local    the local D1 of `make worker-dev` (.wrangler/state)
#   scripts/export.sh --remote   the deployed D1 (needs D1_DATABASE_ID and credentials,
#                                see README "Deploying")
#
# Writes worker-otlp-ingest/exports/voicemode-otel-<where>.sql (wrangler d1 export) and
# loads it into worker-otlp-ingest/exports/voicemode-otel-<where>.sqlite with Python's
# sqlite3 (no sqlite3 CLI needed); prints the SQLite file's path. Open it with, from the
# repository root: sqlite3 worker-otlp-ingest/exports/voicemode-otel-local.sqlite
# (docs/analysis.md has tested queries). Environment:
#   PERSIST_TO    --local: the state directory of the local D1 (default .wrangler/state,
#                 the one `make worker-export` and scripts/dev.sh use)
#   EXPORTS_DIR   where to write (default worker-otlp-ingest/exports, gitignored)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

case "${1:-}" in
  --local)
    where=local
    state="${PERSIST_TO:-$WORKER_DIR/.wrangler/state}"
    # Creates the tables if `make worker-dev` never ran, so the export is never empty-handed.
    wrangler d1 migrations apply DB --local --persist-to "$state" >&2
    # `d1 export --local` has no --persist-to: it reads the .wrangler/state beside its
    # config file, so give it a copy of the config whose .wrangler/state is `state`.
    mkdir -p "$tmp/.wrangler"
    cp wrangler.jsonc "$tmp/wrangler.jsonc"
    ln -s "$(cd "$state" && pwd)" "$tmp/.wrangler/state"
    config=(--local --config "$tmp/wrangler.jsonc")
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

out="${EXPORTS_DIR:-$WORKER_DIR/exports}"
mkdir -p "$out"
sql="$out/voicemode-otel-$where.sql"
db="$out/voicemode-otel-$where.sqlite"
wrangler d1 export DB "${config[@]}" --output "$sql" >&2
rm -f "$db"
python="$(command -v "$PYTHON" || command -v python3)"
"$python" - "$sql" "$db" <<'PY'
import sqlite3, sys
sql, db = sys.argv[1], sys.argv[2]
with open(sql, encoding="utf-8") as f, sqlite3.connect(db) as conn:
    conn.executescript(f.read())
    tables = ("installations", "reports", "series_buckets")
    counts = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
print(", ".join(f"{n} {t}" for t, n in counts.items()), file=sys.stderr)
print(db)
PY
