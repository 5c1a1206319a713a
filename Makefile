# A fresh clone needs Python 3.11+ and make. Two entry points:
#   make check   the main job: the conformance check of the embedded reference mock, reports in reports/
#   make test    the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: check test lint typecheck bench mock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

check: $(STAMP)
	$(BIN)/migma-contract check

test: $(STAMP)
	CI=$${CI:-1} $(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

mock: $(STAMP)
	$(BIN)/migma-contract mock

clean:
	rm -rf $(VENV) reports/conformance.json reports/junit.xml reports/summary.md reports/index.html
