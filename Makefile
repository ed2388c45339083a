# opsbook: the two commands of the README, plus lint and bench.
#   make demo    set up from a fresh clone, then run the bundled demo end to end
#   make test    set up, make sure PostgreSQL/Redis/RabbitMQ answer, lint, type-check, run the tests
#   make lint    ruff + mypy + lint-imports (the layers in .importlinter)
#   make bench   bench/probe.py: opsbook vs Prometheus blackbox_exporter
# Recipes are plain POSIX sh. Set-up lives in scripts/setup.sh, services in scripts/services.sh.

SHELL = /bin/sh
.DEFAULT_GOAL := help
.PHONY: help setup services demo lint test test-only bench

# `pip install --user uv` puts uv here; make sure recipes find it on a fresh machine.
PY_SCRIPTS := $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)
export PATH := $(HOME)/.local/bin:$(PATH):$(PY_SCRIPTS)

# Never re-lock: run exactly what uv.lock pins.
UV_RUN = uv run --frozen
# Tests use free ports and unique names, so they are safe to spread over workers (one file per
# worker). Three on two cores: most tests wait on servers and child processes, and two workers left
# a core idle a third of the time. Override: make test PYTEST_ARGS=-x
PYTEST_ARGS = -q -p xdist -n 3 --dist loadfile
BENCH_ARGS =

help:
	@echo "make demo   - set up and run the opsbook demo"
	@echo "make test   - set up, start services, lint, type-check, run the tests"
	@echo "make lint   - ruff check + mypy + lint-imports"
	@echo "make bench  - probe throughput: opsbook vs blackbox_exporter (BENCH_ARGS='--n 1000')"

setup:
	@sh scripts/setup.sh

services:
	@sh scripts/services.sh

demo: setup
	$(UV_RUN) opsbook demo

lint: setup
	$(UV_RUN) ruff check src tests bench scripts
	$(UV_RUN) mypy
	$(UV_RUN) lint-imports

# services.sh failing is reported but does not stop the run: the tests that need the
# missing service fail with their own message, and all the others still run.
test: setup
	@sh scripts/services.sh || echo "make test: WARNING: a service is down (see above); tests that need it will fail" >&2
	$(UV_RUN) ruff check src tests bench scripts
	$(UV_RUN) mypy
	$(UV_RUN) lint-imports
	$(UV_RUN) pytest $(PYTEST_ARGS)

test-only: setup
	$(UV_RUN) pytest $(PYTEST_ARGS)

bench: setup
	$(UV_RUN) python bench/probe.py $(BENCH_ARGS)
