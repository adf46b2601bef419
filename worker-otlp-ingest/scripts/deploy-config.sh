#!/usr/bin/env bash
# Writes wrangler.deploy.jsonc (gitignored; DEPLOY_CONFIG names another
# wrangler.deploy*.jsonc): wrangler.jsonc plus what a deployment needs and the
# repository never holds — the D1 database_id, and optionally the custom domain the
# Worker answers on. Prints the file's name.
#
#   D1_DATABASE_ID=<uuid from `wrangler d1 create voicemode-otel --update-config=false`> \
#   [CUSTOM_DOMAIN=telemetry.example.org] scripts/deploy-config.sh
#
# CUSTOM_DOMAIN adds "routes": [{"pattern": CUSTOM_DOMAIN, "custom_domain": true}]: on
# deploy, Cloudflare creates the DNS record and certificate for that hostname (its zone
# must be on the same account). docs/operations.md has the whole runbook.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"

: "${D1_DATABASE_ID:?set D1_DATABASE_ID to the database_id printed by: wrangler d1 create voicemode-otel --update-config=false}"
if [[ ! "$D1_DATABASE_ID" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; then
  echo "D1_DATABASE_ID must be a database UUID, got: $D1_DATABASE_ID" >&2
  exit 2
fi
out="${DEPLOY_CONFIG:-wrangler.deploy.jsonc}"
if [[ ! "$out" =~ ^wrangler\.deploy[A-Za-z0-9._-]*\.jsonc$ ]]; then
  echo "DEPLOY_CONFIG must be a wrangler.deploy*.jsonc name in this directory (gitignored), got: $out" >&2
  exit 2
fi
routes=""
if [[ -n "${CUSTOM_DOMAIN:-}" ]]; then
  if [[ ! "$CUSTOM_DOMAIN" =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$ ]]; then
    echo "CUSTOM_DOMAIN must be a lower-case hostname (no scheme, path or wildcard), got: $CUSTOM_DOMAIN" >&2
    exit 2
  fi
  routes="\"routes\": [{ \"pattern\": \"$CUSTOM_DOMAIN\", \"custom_domain\": true }],"
fi
# Same directory as wrangler.jsonc: wrangler resolves main and migrations_dir from it.
sed -e "s|\"database_name\": \"voicemode-otel\",|\"database_name\": \"voicemode-otel\", \"database_id\": \"$D1_DATABASE_ID\",|" \
  -e "s|^  \"main\": \"src/index.ts\",|  \"main\": \"src/index.ts\",${routes:+ $routes}|" \
  wrangler.jsonc >"$out"
grep -q "\"database_id\": \"$D1_DATABASE_ID\"" "$out" || {
  echo "could not insert database_id into $out" >&2
  exit 1
}
if [[ -n "$routes" ]] && ! grep -qF "\"pattern\": \"$CUSTOM_DOMAIN\"" "$out"; then
  echo "could not insert the route into $out" >&2
  exit 1
fi
echo "$out"
