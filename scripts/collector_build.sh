#!/usr/bin/env bash
# Builds the project's OpenTelemetry Collector from Go modules (collector/), called by
# `make collector` and `make collector-prometheus`:
#
#   scripts/collector_build.sh OUT_DIR CACHE_DIR COMMAND...
#
# COMMAND is a package under collector/cmd/ (otelcol-voicemode, otelcol-voicemode-prometheus);
# each becomes OUT_DIR/COMMAND. The module and build caches live in CACHE_DIR (outside the
# clone, so a fresh clone reuses them), the build is read-only against the committed go.mod
# and go.sum (-mod=readonly: it fails rather than change them), and uses the machine's Go only
# (GOTOOLCHAIN=local: no toolchain download), with no VCS stamp (the binary depends on
# collector/ alone). Without Go (or with one older than go.mod asks for),
# OUT_DIR/collector.unavailable gets the reason, `make test` reports the Collector suite as
# skipped with it (failed under CI=true), and this exits 0; a failing build is an error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT="${1:?usage: collector_build.sh OUT_DIR CACHE_DIR COMMAND...}"
CACHE="${2:?usage: collector_build.sh OUT_DIR CACHE_DIR COMMAND...}"
shift 2
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
rm -f "$OUT/collector.unavailable"

unavailable() {
	echo "Collector tests will be SKIPPED: $1" >&2
	echo "$1" > "$OUT/collector.unavailable"
	exit 0
}

GO="${GO:-go}"
command -v "$GO" > /dev/null || unavailable "Go is not installed (the Collector is built from Go modules; install Go >= $(sed -n 's/^go //p' collector/go.mod))"
wanted="$(sed -n 's/^go //p' collector/go.mod)"
have="$("$GO" env GOVERSION | sed 's/^go//')"
if [[ "$(printf '%s\n%s\n' "$wanted" "$have" | sort -V | head -n 1)" != "$wanted" ]]; then
	unavailable "Go $have is older than the $wanted collector/go.mod needs"
fi

export GOMODCACHE="$CACHE/mod" GOCACHE="$CACHE/build"
export GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" GOTOOLCHAIN=local CGO_ENABLED=0
for command in "$@"; do
	echo "building $OUT/$command (Go $have, caches in $CACHE)" >&2
	(cd collector && "$GO" build -trimpath -ldflags='-s -w' -o "$OUT/$command" "./cmd/$command")
done
