# Set-up and everyday commands. `make serve` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint format bench bench-scale soak fuzz clean install system dumps vendor diagram-golden

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

.stamp-install: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Debian packages the project needs (diagrams, CJK glyphs, browser tests, the Virtuoso the tests and
# bench-scale start); installed only if missing.
DEBIAN_PACKAGES := graphviz fonts-noto-cjk chromium chromium-driver virtuoso-opensource
.stamp-system:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	touch $@

system: .stamp-system

# The query UI's YASGUI, pinned in package-lock.json, copied into the git-ignored static/vendor/ (never a CDN).
YASGUI := src/hkgraph/static/vendor/yasgui
$(YASGUI)/yasgui.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(YASGUI)
	cp node_modules/@zazuko/yasgui/build/yasgui.min.js node_modules/@zazuko/yasgui/build/yasgui.min.css $(YASGUI)/
	touch $@

vendor: $(YASGUI)/yasgui.min.js

# The real Mermaid parser the diagram tests run on our Mermaid output (pinned in tests/mermaid/package-lock.json).
.stamp-mermaid: tests/mermaid/package.json tests/mermaid/package-lock.json
	npm ci --prefix tests/mermaid --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

install: .stamp-install

serve: .stamp-install vendor dumps
	$(BIN)/hkgraph serve --host $(HOST) --port $(PORT)

# Dumps of the whole dataset with checksums (build output; the server also builds them on first use).
dumps: .stamp-install
	$(BIN)/hkgraph export --dumps build/dumps

test: .stamp-install .stamp-system vendor .stamp-mermaid
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: .stamp-install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: .stamp-install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Throughput and latency of the endpoint against a bare Flask ceiling and rdflib-endpoint (loopback only).
bench: .stamp-install vendor
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/run.py

# How load time, memory, disk, start-up and latency grow from 10^4 to 10^6 triples in memory, on disk and in
# Virtuoso; writes bench/README.md. BENCH_SCALE_FLAGS=--with-1e7 adds 10^7 (about half an hour more).
BENCH_SCALE_FLAGS ?=
bench-scale: .stamp-install .stamp-system
	$(BIN)/python bench/scale/run.py $(BENCH_SCALE_FLAGS)

# A bounded soak of `hkgraph serve` on 127.0.0.1 (SOAK_SECONDS, default 10 minutes): mixed traffic with runaway
# queries and clients that hang up; failed answers, every worker's memory, p99 of simple queries against its
# unloaded value. Exits non-zero when a target fails; writes bench/results/soak-latest.md.
SOAK_SECONDS ?= 600
soak: .stamp-install .stamp-system
	$(BIN)/python bench/soak.py --seconds $(SOAK_SECONDS)

# Fuzzing (docs/hardening.md): the atheris harnesses of the query guard and of the SPARQL syntax-error path,
# FUZZ_SECONDS each (corpora in build/fuzz/, seeded from queries/*.rq), then tests/test_fuzz.py with ten times
# the examples (HYPOTHESIS_PROFILE=fuzz). Exits non-zero on any finding (libFuzzer writes it to build/fuzz/).
FUZZ_SECONDS ?= 300
FUZZ_FLAGS = -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
	-artifact_prefix=build/fuzz/
.stamp-fuzz: .stamp-install
	$(BIN)/pip install --quiet -e '.[test,fuzz]'
	touch $@

fuzz: .stamp-fuzz .stamp-system vendor
	mkdir -p build/fuzz
	$(BIN)/python fuzz/fuzz_guard.py $(FUZZ_FLAGS) build/fuzz/guard
	$(BIN)/python fuzz/fuzz_syntax.py $(FUZZ_FLAGS) build/fuzz/syntax
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider tests/test_fuzz.py

# After a deliberate change of the data or the drawing: rewrite the landscape's golden DOT, then look at
# build/landscape.png before committing it.
diagram-golden: .stamp-install .stamp-system
	$(BIN)/hkgraph diagram --format dot -o tests/golden/landscape.dot
	mkdir -p build
	$(BIN)/hkgraph diagram -o build/landscape.png

clean:
	rm -rf $(VENV) .stamp-* build dist src/*.egg-info
