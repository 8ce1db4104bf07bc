# hostvitals: `make run` starts everything locally, `make test` runs the whole suite.
# Both install what is missing first (Debian/Ubuntu packages with apt, Python packages in .venv).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := victoria-metrics prometheus-node-exporter
STAMP := $(VENV)/.installed

.PHONY: help deps system-deps venv web run test unit integration e2e lint format bench chaos certs \
	clean deb zipapp test-packaging

help:
	@echo "make run    install what is missing, start VictoriaMetrics, the collector and an agent"
	@echo "make test   install what is missing and run lint, type checks and the whole test suite"
	@echo "make bench  run the benchmarks under bench/"
	@echo "make chaos  run the chaos experiments (full durations); report in var/chaos/"
	@echo "make certs  make a test CA, a server and an agent certificate in var/certs/"
	@echo "make deb    build the hostvitals-agent and hostvitals-collector Debian packages in dist/"
	@echo "make zipapp the single-file agent, dist/hostvitals-agent.pyz"
	@echo "make test-packaging  build, lint, install, upgrade and purge them in a Debian root"

deps: system-deps venv

# Install Debian packages only when one of their commands is missing.
system-deps:
	@missing=""; \
	command -v victoria-metrics >/dev/null || missing="$$missing victoria-metrics"; \
	command -v vmalert >/dev/null || missing="$$missing victoria-metrics"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v prometheus-node-exporter >/dev/null || missing="$$missing prometheus-node-exporter"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v lintian >/dev/null || missing="$$missing lintian"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v objdump >/dev/null || missing="$$missing binutils"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v stress-ng >/dev/null || missing="$$missing stress-ng"; \
	command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	PATH="$$PATH:/usr/sbin:/sbin" command -v smartctl >/dev/null || missing="$$missing smartmontools"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The dashboard (web/) is built into collector/static/ when its sources changed.
WEB_STAMP := collector/static/.built
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/build.mjs web/tsconfig.json

web: $(WEB_STAMP)

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_STAMP): web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build
	touch $@

run: deps web
	@deploy/local/run.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy --strict bench
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: deps lint web
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

integration: deps
	$(BIN)/pytest tests/integration

e2e: deps
	$(BIN)/pytest tests/e2e

# Debian packages for this architecture, built with dpkg-deb (packaging/deb/build.sh).
deb: deps web
	packaging/deb/build.sh dist

# The single-file agent, dist/hostvitals-agent.pyz (packaging/zipapp.sh).
zipapp: venv
	packaging/zipapp.sh dist

# The long packaging test: both packages installed, upgraded and purged in a debootstrapped
# Debian root (cached under var/packaging/). Its quick part runs in `make test`.
test-packaging: deps web
	HOSTVITALS_PACKAGING_LONG=1 $(BIN)/pytest tests/packaging -q

bench: deps web
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }
	$(BIN)/python bench/run_all.py

# Every chaos experiment at its full duration against a private stack (docs/operations.md);
# fails when a hypothesis does not hold. Needs root for the spool's size-limited tmpfs.
chaos: deps
	$(BIN)/hostvitals-chaos --profile full --out var/chaos

# A private CA, a collector certificate (localhost, 127.0.0.1, and the compose service name) and
# agent certificates for this host and the compose agent, for trying HTTPS and mTLS out
# (docs/security.md). var/ is git-ignored.
certs:
	SERVER_NAMES="collector collector-lb" deploy/certs/make-certs.sh var/certs "$$(hostname)" docker-host

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis
	rm -rf web/node_modules collector/static
