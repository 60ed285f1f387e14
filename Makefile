# frontdesk — the two commands a newcomer needs are `make run` and `make test`.
# Everything they need is installed here: Python packages into .venv, and for the test
# suite the Debian tools it drives (installed with apt-get when missing and we are root).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

APT_TOOLS := sip-tester baresip sox espeak-ng tcpdump nftables iproute2 kamailio chromium
# command that proves each package is present, in the same order
APT_PROBES := sipp baresip sox espeak-ng tcpdump nft ip kamailio chromium

.PHONY: install install-dev apt-tools run test lint typecheck unit bench clean

install: $(STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); \
	  else echo "python3 -m venv failed: run 'sudo apt-get install -y python3-venv' and retry"; exit 1; fi; }

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	@touch $@

$(DEVSTAMP): pyproject.toml $(STAMP)
	$(PIP) install -q -e '.[dev]'
	@touch $@

install-dev: $(DEVSTAMP)

apt-tools:
	@missing=""; set -- $(APT_TOOLS); for probe in $(APT_PROBES); do \
	  command -v $$probe >/dev/null 2>&1 || [ -x /usr/sbin/$$probe ] || missing="$$missing $$1"; shift; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian tools:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian tools; run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi

run: install
	$(VENV)/bin/frontdesk run --demo $(ARGS)

lint: install-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	PYTHONPATH=src $(VENV)/bin/lint-imports --no-cache  # the layering contracts (pyproject.toml)

typecheck: install-dev
	$(VENV)/bin/mypy

unit: install-dev
	$(PY) -m pytest tests/unit -q

test: install-dev apt-tools lint typecheck
	$(PY) -m pytest -q --durations=30  # the slowest, to keep CI under its 25 minutes

bench: install-dev apt-tools
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
