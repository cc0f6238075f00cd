# presence: the two commands a newcomer needs are `make serve` and `make test`.
# Both create .venv with the project installed, and build the browser bundle
# when npm is available (without npm the server runs and /static/*.js answers 503).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?= -n auto

.PHONY: serve test venv bundle lint format bench clean

serve: venv bundle
	$(BIN)/presence serve

test: venv bundle
	$(BIN)/pytest $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "presence needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# The bundle is rebuilt when its sources change; it is never committed.
BUNDLE_SRC := $(wildcard widget_js/package.json widget_js/package-lock.json widget_js/build.mjs widget_js/src/*.js widget_js/src/lib/*.js widget_js/src/console/*.js)

bundle:
	@if [ ! -f widget_js/package.json ]; then \
	  echo "bundle: no widget_js/package.json, nothing to build"; \
	elif command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory widget_js/dist/.built; \
	else \
	  echo "bundle: npm not found, so /static/widget.js will answer 503 (install Node 18+ and npm, then make bundle)"; \
	fi

widget_js/dist/.built: $(BUNDLE_SRC)
	cd widget_js && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	touch $@

# ruff (style), import-linter (imports run one way: see README "Where things are"), mypy (types).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) widget_js/node_modules widget_js/dist .pytest_cache .ruff_cache

# §5: DAU/WAU/MAU on 1,000,000 users in PostgreSQL (PRESENCE_BENCH_POSTGRES_URL, default the local test server)
.PHONY: bench-activity
bench-activity: venv
	$(BIN)/python bench/activity_metrics.py

# The widget server beside the Node original, same load, same machine (SPEC §3 subset):
# throughput, fan-out latency, memory per 1,000 sockets. About two minutes; needs Node and npm.
# Uses ../shared/bench-peer (override with BENCH_PEER=...). Extra flags: make bench-compare ARGS="--reps 3".
BENCH_PEER ?= ../shared/bench-peer
.PHONY: bench-compare bench bench-deps soak
# Its load generator opens every socket from 127.0.0.1: the per-IP limit (1000) is off for it.
bench-compare: venv
	PRESENCE_CMD="env PRESENCE_MAX_CONNECTIONS_PER_IP=0 $(abspath $(BIN))/presence serve" \
		$(BENCH_PEER)/run-compare --checkout . $(ARGS)

# make bench [PARTS=relay,memory,rest,sweeps,activity] [ARGS=...]: the performance suite (bench/run.py):
# one table, every figure in bench/results/latest.json. Needs Node and npm (relay, memory) and
# PostgreSQL (rest, sweeps, activity: PRESENCE_BENCH_POSTGRES_URL). About 15 minutes for every part on
# 2 cores; larger sizes through ARGS (bench/run.py --help), e.g. ARGS="--relay-sizes 1000,10000,20000".
PARTS ?= relay,memory,rest,sweeps,activity
bench: venv bundle bench-deps
	PRESENCE_VENV=$(VENV) BENCH_PEER=$(abspath $(BENCH_PEER)) $(BIN)/python bench/run.py --parts $(PARTS) $(ARGS)

# make soak [ARGS="--duration 180 --widgets 3000"]: widgets connecting, heartbeating, reloading and
# dropping with agents watching, for a bounded time; checks RSS, tasks, counts and every agent's view.
soak: venv bench-deps
	PRESENCE_VENV=$(VENV) BENCH_PEER=$(abspath $(BENCH_PEER)) $(BIN)/python bench/soak.py $(ARGS)

bench-deps: venv
	@$(BIN)/python -c 'import uvloop' 2>/dev/null || $(BIN)/python -m pip install -q --disable-pip-version-check -e '.[fast]'
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install -q --disable-pip-version-check py-spy
