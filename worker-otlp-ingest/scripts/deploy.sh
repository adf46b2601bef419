#!/usr/bin/env bash
# Deploys the Worker: applies pending migrations to the remote D1, then uploads.
# Needs D1_DATABASE_ID (see README "Deploying") and Cloudflare credentials in the
# environment (CLOUDFLARE_API_TOKEN + CLOUDFLARE_ACCOUNT_ID) or from `wrangler login`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"

config="$(scripts/deploy-config.sh)"
wrangler d1 migrations apply DB --remote --config "$config"
wrangler deploy --config "$config"
