# Two commands do all set-up on a fresh Debian machine (as root):
#   make demo   install, bring up the local lab, run the challenge over its clouds, print the report
#   make test   install, lint (ruff, mypy, import contracts), bring up the local lab, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_CLOUDS ?= 3
PYTEST_ARGS ?=

.PHONY: help install browser allure lint lab demo test unit bench clean lab-down

help:
	@echo "make demo    bring up the local lab and run the challenge over its $(LAB_CLOUDS) clouds"
	@echo "make test    lint, then unit tests + lab tests against a real local lab"
	@echo "make lint    ruff, mypy and the import contracts (lint-imports)"
	@echo "make unit    unit tests only (no lab)"
	@echo "make bench   benchmarks (needs the lab: make lab LAB_CLOUDS=6)"
	@echo "make lab-down  stop every lab process"
	@echo "make allure  install Allure 3 (pinned, into tools/allure) for interop report --allure-html"

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  { apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-venv python3-dev gcc; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(STAMP)

# Debian's Chromium, for the dashboard's browser tests (headless, driven from Python)
BROWSER := /usr/bin/chromium
$(BROWSER):
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium || \
	  { apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium; }

browser: $(BROWSER)

# Allure 3 for `interop report --allure-html`: exactly the versions of tools/allure/package-lock.json,
# into tools/allure/node_modules (project-local, never global); needs node >= 20 and npm.
ALLURE_STAMP := tools/allure/node_modules/.installed
$(ALLURE_STAMP): tools/allure/package.json tools/allure/package-lock.json
	npm ci --prefix tools/allure --no-audit --no-fund
	@touch $@

allure: $(ALLURE_STAMP)

lab: $(STAMP)
	$(BIN)/interop lab up --clouds $(LAB_CLOUDS)

demo: lab
	@eval "$$($(BIN)/interop lab env)" && $(BIN)/interop run

lint: $(STAMP)
	$(BIN)/ruff check harness interop_lab tests benchmarks scenarios
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint browser allure lab
	@eval "$$($(BIN)/interop lab env)" && $(BIN)/python -m pytest tests $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests -m "not lab" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/interop lab up --clouds 6
	@eval "$$($(BIN)/interop lab env)" && for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

lab-down:
	$(BIN)/interop lab down

clean:
	rm -rf $(VENV) build *.egg-info
