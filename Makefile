# Everything a fresh machine needs: `make demo` runs the pipeline, `make test` passes the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-long test-compat test-peers lint install system-deps clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser of its own).
system-deps:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }

demo: $(STAMP)
	$(BIN)/ticklake demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers (pytest-xdist): most of the suite waits on sockets and processes, not the CPU.
# worksteal: a worker that ran out of tests takes some of the other's (tests/conftest.py
# puts the long suites first).
TEST_WORKERS ?= 2

test: lint system-deps
	$(BIN)/pytest -m "not long and not compat and not peers" -n $(TEST_WORKERS) --dist worksteal

test-long: $(STAMP) system-deps
	$(BIN)/pytest -m long

# Spark (pyspark, local mode, the system's Java 17) reads the lake: a large optional extra.
test-compat: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench,compat]'
	$(BIN)/pytest -m compat

# Peer fidelity: cryptofeed and ccxt pro (the peers extra), pointed at the emulator, rebuild
# its true order books (tests/peers).
test-peers: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,peers]'
	$(BIN)/pytest -m peers

# Benchmarks side by side with cryptofeed and ccxt (quick variants, < 5 min on 2 cores);
# prints JSON and a table, keeps the JSON in bench/results/latest.json (docs/performance.md).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench,peers]'
	mkdir -p bench/results
	$(BIN)/python bench/run_all.py --out bench/results/latest.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
