# Two commands: `make run` serves the control plane, `make test` runs lint, types and the suite.
# Each creates .venv and installs what it needs on a machine that has only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest promtool-status browser-status replica-status rules migrate clean bench-api-overhead bench-limiter-accuracy bench-request-cost bench-ingest-throughput bench-validation-run bench-flag-propagation bench-read-api bench-read-replica bench-health bench-dashboard-cpu bench-scale bench-partitions bench-sla-aggregates

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/aurum serve

test: lint typecheck promtool-status browser-status replica-status pytest

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The alert and recording rules' promtool cases (tests/deploy/rules-tests) run inside pytest,
# which only skips them without promtool (Debian's prometheus package): say so loudly.
promtool-status:
	@if command -v promtool >/dev/null 2>&1; then \
	  echo "promtool $$(promtool --version 2>&1 | head -1 | cut -d' ' -f3) found: pytest runs the alert rule tests"; \
	else \
	  echo "*** promtool not found: the alert rule tests (tests/deploy/rules-tests) will NOT run; install it: apt-get install prometheus ***" >&2; \
	fi

# The dashboard's browser tests (tests/ui) drive Debian's chromium (or AURUM_TEST_CHROMIUM);
# pytest only skips them without one: say so loudly.
browser-status:
	@browser="$${AURUM_TEST_CHROMIUM:-}"; \
	if [ -z "$$browser" ]; then \
	  for candidate in /usr/bin/chromium /usr/bin/chromium-browser $$(command -v chromium chromium-browser 2>/dev/null); do \
	    if [ -x "$$candidate" ]; then browser="$$candidate"; break; fi; \
	  done; \
	fi; \
	if [ -n "$$browser" ] && [ -x "$$browser" ]; then \
	  echo "chromium found ($$browser): pytest runs the browser tests (tests/ui)"; \
	else \
	  echo "*** no chromium found$${AURUM_TEST_CHROMIUM:+ (AURUM_TEST_CHROMIUM=$$AURUM_TEST_CHROMIUM is not executable)}: the browser tests (tests/ui) will NOT run; install it: apt-get install chromium ***" >&2; \
	fi

# The read-replica tests (tests/db/test_read_replica.py) copy the embedded PostgreSQL into a
# streaming standby; against an external AURUM_DATABASE_URL pytest only skips them: say so.
replica-status: $(STAMP)
	@$(BIN)/python -m tests.support.streaming_replica

# Only the rules: promtool check rules + promtool test rules.
rules: $(STAMP)
	$(BIN)/python -m tests.deploy.promtool_rules

# pytest exits 5 when it collected nothing; CI must treat that as a failure, with a reason.
pytest: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

migrate: $(STAMP)
	$(BIN)/aurum migrate

bench-api-overhead: $(STAMP)
	$(BIN)/python -m bench.api_overhead $(BENCH_ARGS)

bench-limiter-accuracy: $(STAMP)
	$(BIN)/python -m bench.limiter_accuracy $(BENCH_ARGS)

bench-request-cost: $(STAMP)
	$(BIN)/python -m bench.request_cost $(BENCH_ARGS)

bench-health: $(STAMP)
	$(BIN)/python -m bench.health_latency $(BENCH_ARGS)

bench-dashboard-cpu: $(STAMP)
	$(BIN)/python -m bench.dashboard_cpu $(BENCH_ARGS)

bench-ingest-throughput: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python -m bench.ingest_throughput $(BENCH_ARGS)

bench-validation-run: $(STAMP)
	$(BIN)/python -m bench.validation_run $(BENCH_ARGS)

bench-flag-propagation: $(STAMP)
	$(BIN)/python -m bench.flag_propagation $(BENCH_ARGS)

bench-read-api: $(STAMP)
	$(BIN)/python -m bench.read_api $(BENCH_ARGS)

bench-read-replica: $(STAMP)
	$(BIN)/python -m bench.read_replica $(BENCH_ARGS)

bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale $(BENCH_ARGS)

bench-partitions: $(STAMP)
	$(BIN)/python -m bench.partitions $(BENCH_ARGS)

bench-sla-aggregates: $(STAMP)
	$(BIN)/python -m bench.sla_aggregates $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
