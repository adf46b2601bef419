#!/usr/bin/env bash
# Writes wrangler.deploy.jsonc (gitignored): wrangler.jsonc plus the D1 database_id,
# which is never committed. Prints the file's name.
#
#   D1_DATABASE_ID=<uuid from `wrangler d1 create voicemode-otel`> scripts/deploy-config.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"

: "${D1_DATABASE_ID:?set D1_DATABASE_ID to the database_id printed by: wrangler d1 create voicemode-otel}"
if [[ ! "$D1_DATABASE_ID" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
  echo "D1_DATABASE_ID must be a database UUID, got: $D1_DATABASE_ID" >&2
  exit 2
fi
# Same directory as wrangler.jsonc: wrangler resolves main and migrations_dir from it.
sed "s|\"database_name\": \"voicemode-otel\",|\"database_name\": \"voicemode-otel\", \"database_id\": \"$D1_DATABASE_ID\",|" \
  wrangler.jsonc >wrangler.deploy.jsonc
grep -q "\"database_id\": \"$D1_DATABASE_ID\"" wrangler.deploy.jsonc || {
  echo "could not insert database_id into wrangler.deploy.jsonc" >&2
  exit 1
}
echo wrangler.deploy.jsonc
