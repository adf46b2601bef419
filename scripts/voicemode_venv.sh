#!/usr/bin/env bash
# Builds .venv-voicemode, the venv the real-VoiceMode tests run in (tests/voicemode/,
# scripts/run_tests.py's "real VoiceMode" suite), called by `make voicemode-venv`.
#
#   scripts/voicemode_venv.sh VENV PYTHON
#
# 1. Debian packages VoiceMode and the tests need: libasound2-dev (simpleaudio compiles
#    against ALSA), libportaudio2 (sounddevice loads it), libfaketime (the tests run
#    VoiceMode's logger under a controlled clock). Missing ones are installed with
#    apt-get as root (or with sudo that needs no password). Where that is impossible (no
#    apt-get, or neither), VENV/.unavailable gets the reason, the suite is reported as
#    skipped with it, and this exits 0; a failing apt-get is an error, not a skip.
# 2. The venv: voice-mode 9.0.1 from PyPI, this package (editable, with [mcp]) and the
#    test tools, every version pinned by constraints-voicemode.txt.
# 3. VoiceMode's sdist (pip download), for the pyproject.toml the integration patch
#    changes; the wheel installs no pyproject.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${1:?usage: voicemode_venv.sh VENV PYTHON}"
PYTHON="${2:?usage: voicemode_venv.sh VENV PYTHON}"
PACKAGES=(libasound2-dev libportaudio2 libfaketime)
VOICEMODE_VERSION="9.0.1"
APT_TIMEOUT=400

mkdir -p "$VENV"
rm -f "$VENV/.unavailable"

unavailable() {
	echo "real-VoiceMode tests will be SKIPPED: $1" >&2
	echo "$1" > "$VENV/.unavailable"
	exit 0
}

missing=()
for package in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
	command -v apt-get > /dev/null || unavailable "Debian packages ${missing[*]} are missing and there is no apt-get to install them"
	if [[ $(id -u) -eq 0 ]]; then
		as_root=()
	elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
		as_root=(sudo -n)
	else
		unavailable "Debian packages ${missing[*]} are missing and installing them needs root (run: sudo apt-get install ${missing[*]})"
	fi
	echo "installing Debian packages: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	timeout "$APT_TIMEOUT" "${as_root[@]}" apt-get update -qq
	timeout "$APT_TIMEOUT" "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24,<27"
"$VENV/bin/python" -m pip install --quiet -c constraints-voicemode.txt -r requirements-voicemode.txt -e '.[mcp]'
# Fetching an sdist makes pip read its metadata; hatchling (VoiceMode's build backend,
# installed above) does that here instead of in a freshly downloaded isolated build env.
"$VENV/bin/python" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation \
	-c constraints-voicemode.txt -d "$VENV/sdist" "voice-mode==$VOICEMODE_VERSION"
touch "$VENV/.installed"
