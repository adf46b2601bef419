#!/usr/bin/env bash
# Regenerate src/gen/ from the pinned opentelemetry-proto wheel (see gen-proto.py).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WORKER_DIR"
"$PYTHON" scripts/gen-proto.py
