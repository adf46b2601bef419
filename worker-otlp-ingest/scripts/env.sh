# Sourced by every script here: Node 22 from npm first on PATH, wrangler kept offline
# and out of the user's home. The top-level Makefile sets the same, but these scripts
# may be run directly.
WORKER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
case "$(uname -m)" in aarch64 | arm64) NODE_ARCH=arm64 ;; *) NODE_ARCH=x64 ;; esac
export PATH="$WORKER_DIR/node_modules/node-linux-$NODE_ARCH/bin:$WORKER_DIR/node_modules/.bin:$PATH"
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME="$WORKER_DIR/.wrangler/xdg"
export NO_UPDATE_NOTIFIER=1
# The banner is where wrangler asks the npm registry for a newer version: keep it off.
export WRANGLER_HIDE_BANNER=true
# The Python that has opentelemetry-proto and voicemode_otel: the repository's .venv
# unless PYTHON says otherwise.
PYTHON="${PYTHON:-$WORKER_DIR/../.venv/bin/python}"
