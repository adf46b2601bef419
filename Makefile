# voicemode-otel — every command the README promises. Each target installs what it
# needs (a .venv, npm packages, Node 22 from npm) so a fresh clone needs only
# python3 (>= 3.10), npm and make.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKER := worker-otlp-ingest
PORT ?= 8787

# Node 22 comes from the npm registry (node-linux-<arch>, an optional dependency of the
# Worker package): the machine's Node 20 cannot run wrangler >= 4.87.
NODE_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x64)
NODE_BIN := $(CURDIR)/$(WORKER)/node_modules/node-linux-$(NODE_ARCH)/bin
export PATH := $(NODE_BIN):$(CURDIR)/$(WORKER)/node_modules/.bin:$(PATH)

# Keep wrangler and miniflare offline and out of the user's home directory.
export WRANGLER_SEND_METRICS := false
export CLOUDFLARE_CF_FETCH_ENABLED := false
export XDG_CONFIG_HOME := $(CURDIR)/$(WORKER)/.wrangler/xdg
export NO_UPDATE_NOTIFIER := 1
export WRANGLER_HIDE_BANNER := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PY_STAMP := $(VENV)/.installed
NODE_STAMP := $(WORKER)/node_modules/.installed
# The real-VoiceMode tests' own venv (voice-mode 9.0.1 from PyPI): scripts/voicemode_venv.sh.
VM_VENV := .venv-voicemode
VM_STAMP := $(VM_VENV)/.installed
# The project's own OpenTelemetry Collector, built from Go modules (collector/) by
# scripts/collector_build.sh. Its module and build caches live outside the clone, so a fresh
# clone (CI) reuses them; COLLECTOR_CACHE moves them.
COLLECTOR_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/voicemode-otel/go
COLLECTOR_SOURCES := $(shell find collector -name '*.go') collector/go.mod collector/go.sum scripts/collector_build.sh

.PHONY: help venv node voicemode-venv collector collector-prometheus prometheus test lint demo worker-dev worker-export bench dashboard docs clean

help:
	@echo "make demo        the whole pipeline on this machine (local Worker + D1, sample logs)"
	@echo "make test        every test (Python, Worker, end to end); ends with 'N passed, N failed'"
	@echo "make lint        ruff, mypy --strict, tsc --noEmit"
	@echo "make collector   the OpenTelemetry Collector for collector-config/ into build/ (needs Go)"
	@echo "make worker-dev  the Worker on http://127.0.0.1:$(PORT) with local D1 (PORT=...)"
	@echo "make dashboard   the Worker seeded with demo data; prints the dashboard URL"
	@echo "make bench       benchmarks, printed as one table of ratios"
	@echo "make docs        regenerate docs/privacy.md's example payload from the code"

$(PY_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24,<27"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,mcp,grpc]'
	touch $@

venv: $(PY_STAMP)

$(NODE_STAMP): $(WORKER)/package.json $(WORKER)/package-lock.json
	cd $(WORKER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node: $(NODE_STAMP)

# Installs the Debian packages it needs when missing (as root); where it cannot, it
# leaves $(VM_VENV)/.unavailable with the reason and `make test` reports the suite skipped.
$(VM_STAMP): pyproject.toml requirements-voicemode.txt constraints-voicemode.txt scripts/voicemode_venv.sh
	scripts/voicemode_venv.sh $(VM_VENV) $(PYTHON)

voicemode-venv: $(VM_STAMP)

# Without Go, the script leaves build/collector.unavailable with the reason instead of failing.
build/otelcol-voicemode: $(COLLECTOR_SOURCES)
	scripts/collector_build.sh build "$(COLLECTOR_CACHE)" otelcol-voicemode

# A second binary with the Prometheus remote-write exporter, whose Prometheus module would
# double the download and compile time of the main one (collector/README.md).
build/otelcol-voicemode-prometheus: $(COLLECTOR_SOURCES)
	scripts/collector_build.sh build "$(COLLECTOR_CACHE)" otelcol-voicemode-prometheus

collector: build/otelcol-voicemode

collector-prometheus: build/otelcol-voicemode-prometheus

# Debian's prometheus for the Prometheus sink test; as root it is installed when missing.
prometheus:
	scripts/prometheus_install.sh build

lint: $(PY_STAMP) $(NODE_STAMP)
	$(PY) scripts/run_tests.py --lint-only

test: $(PY_STAMP) $(NODE_STAMP) voicemode-venv collector collector-prometheus prometheus
	$(PY) scripts/run_tests.py

demo: $(PY_STAMP) $(NODE_STAMP)
	$(PY) scripts/demo.py

worker-dev: $(NODE_STAMP)
	cd $(WORKER) && ./scripts/dev.sh $(PORT)

worker-export: $(NODE_STAMP)
	cd $(WORKER) && ./scripts/export.sh $(if $(REMOTE),--remote,--local)

dashboard: $(PY_STAMP) $(NODE_STAMP)
	$(PY) scripts/dashboard.py --port $(PORT)

bench: $(PY_STAMP) $(NODE_STAMP)
	$(PY) benchmarks/run_all.py

docs: $(PY_STAMP)
	$(PY) scripts/make_docs.py

clean:
	rm -rf $(VENV) $(VM_VENV) $(WORKER)/node_modules $(WORKER)/.wrangler test-artifacts build
