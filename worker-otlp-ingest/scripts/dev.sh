#!/usr/bin/env bash
# Runs the Worker on http://127.0.0.1:PORT with local D1 (make worker-dev).
#
#   scripts/dev.sh [PORT]           PORT defaults to 8787
#
# Applies migrations/ to the local D1 first, then execs `wrangler dev --local`, which
# stays in the foreground: Ctrl-C (or killing this PID, which *is* the wrangler node
# process after exec) stops it and its workerd. Nothing outside the machine is
# contacted. Environment:
#   STATS_MIN_INSTALLATIONS   overrides the var of the same name (default 5)
#   IP_HASH_KEY               the rate-limit HMAC key; a random one per run if unset
#   PERSIST_TO                local state directory (default .wrangler/state, the one
#                             `wrangler d1 export --local` reads)
#   ROLLUP_ON_READ            1 (default here): /v1/stats and / bring the rollups up to
#                             date before reading, so what was just sent shows at once;
#                             0: as deployed, only the cron does (trigger it with
#                             curl http://127.0.0.1:PORT/cdn-cgi/local/scheduled)
#   STATS_ESTABLISHED         1/0 (default here): every installation counts at once, so a
#                             demo shows what it sent; 3/7 as deployed (src/db/established.ts)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"

PORT="${1:-8787}"
PERSIST_TO="${PERSIST_TO:-$WORKER_DIR/.wrangler/state}"

# stdin from /dev/null: on a terminal wrangler would otherwise stop and ask "About to apply
# N migration(s)… (Y/n)"; a local database of our own is always migrated.
wrangler d1 migrations apply DB --local --persist-to "$PERSIST_TO" </dev/null >&2

# Secrets go through an env file (mode 600), not the command line, where `ps` shows them.
mkdir -p "$WORKER_DIR/.wrangler"
secrets="$(mktemp "$WORKER_DIR/.wrangler/dev-secrets.XXXXXX")"
trap 'rm -f "$secrets"' EXIT
key="${IP_HASH_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
printf 'IP_HASH_KEY=%s\n' "$key" >"$secrets"

args=(--local --ip 127.0.0.1 --port "$PORT" --persist-to "$PERSIST_TO" --env-file "$secrets" --show-interactive-dev-session=false)
args+=(--var "ROLLUP_ON_READ:${ROLLUP_ON_READ:-1}")
args+=(--var "STATS_ESTABLISHED:${STATS_ESTABLISHED:-1/0}")
if [[ -n "${STATS_MIN_INSTALLATIONS:-}" ]]; then
  args+=(--var "STATS_MIN_INSTALLATIONS:$STATS_MIN_INSTALLATIONS")
fi
# wrangler reads the env file at start-up; remove it a few seconds later rather than
# at exit (exec replaces this shell, so the EXIT trap would not run).
( sleep 10; rm -f "$secrets" ) &
exec wrangler dev "${args[@]}"
