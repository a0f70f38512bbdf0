# Quick start:  make demo   (set up .venv, grade the bundled sample class, print the table)
#               make test   (set up .venv, run the whole test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 is what CI installs; a course with CUDA machines may set TORCH_SPEC.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test release examples lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" || \
	  $(BIN)/python -m pip install -q "$(TORCH_SPEC)" --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/autograder demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

release: $(STAMP)
	$(BIN)/autograder release

examples: $(STAMP)
	$(BIN)/python -m examples.build

lint: $(STAMP)
	$(BIN)/ruff check autograder tests examples benchmarks

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_nbgrader.py

clean:
	rm -rf out graded .pytest_cache
