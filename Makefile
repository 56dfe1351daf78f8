# The two commands of marginlab (see README.md). Each creates .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: report test env clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[notebooks,scale,dev]"
	touch $(STAMP)

env: $(STAMP)

## The main job: execute the notebook series into reports/ (HTML + index) and write the parameter file.
report: $(STAMP)
	$(BIN)/python -m marginlab.reports

## The tests: ruff, mypy on marginlab/, pytest (unit, property, doctests, notebooks with FAST parameters).
test: $(STAMP)
	$(BIN)/ruff check marginlab tests benchmarks notebooks
	$(BIN)/mypy marginlab
	$(BIN)/python -m pytest -n 2 tests marginlab

clean:
	rm -rf $(VENV) reports
