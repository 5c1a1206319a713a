# Two entry points for a fresh clone: `make check` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: check test lint bench mock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

## check: conformance check of the embedded reference mock; reports under reports/
check: $(STAMP)
	$(BIN)/migma-contract lint
	$(BIN)/migma-contract rules

## test: the test suite (derandomized Hypothesis, loopback only)
test: $(STAMP)
	CI=1 $(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) reports/*.json reports/*.xml reports/*.md reports/*.html
