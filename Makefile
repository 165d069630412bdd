# Set-up and everyday commands. `make serve` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint format bench clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

.stamp-install: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: .stamp-install

serve: .stamp-install
	$(BIN)/hkgraph serve --host $(HOST) --port $(PORT)

test: .stamp-install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

lint: .stamp-install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: .stamp-install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: .stamp-install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .stamp-* build dist src/*.egg-info
