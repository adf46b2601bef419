#!/usr/bin/env bash
# Makes sure Debian's `prometheus` (the time-series backend the Collector suite writes into
# through collector-config/voicemode-prometheus.yaml) is installed, called by `make prometheus`:
#
#   scripts/prometheus_install.sh OUT_DIR
#
# Missing, it is installed with apt-get as root (or with sudo that needs no password); the
# package starts no service where there is no systemd, and the tests run their own server
# on a free loopback port. Where installing is impossible (no apt-get, no root), OUT_DIR/
# prometheus.unavailable gets the reason, the Prometheus test is reported as skipped with it
# (failed under CI=true), and this exits 0; a failing apt-get is an error, not a skip.
set -euo pipefail

OUT="${1:?usage: prometheus_install.sh OUT_DIR}"
APT_TIMEOUT=400
mkdir -p "$OUT"
rm -f "$OUT/prometheus.unavailable"

unavailable() {
	echo "the Prometheus test will be SKIPPED: $1" >&2
	echo "$1" > "$OUT/prometheus.unavailable"
	exit 0
}

command -v prometheus > /dev/null && exit 0
command -v apt-get > /dev/null || unavailable "prometheus is not installed and there is no apt-get to install it"
if [[ $(id -u) -eq 0 ]]; then
	as_root=()
elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
	as_root=(sudo -n)
else
	unavailable "prometheus is not installed and installing it needs root (run: sudo apt-get install prometheus)"
fi
echo "installing Debian package: prometheus" >&2
export DEBIAN_FRONTEND=noninteractive
timeout "$APT_TIMEOUT" "${as_root[@]}" apt-get update -qq
timeout "$APT_TIMEOUT" "${as_root[@]}" apt-get install -y -qq --no-install-recommends prometheus > /dev/null
