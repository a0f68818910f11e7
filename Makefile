# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench fidelity clean

setup: $(STAMP)

$(STAMP): requirements.lock requirements-noncommercial.lock pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/refocus-bench demo -o out/demo

# The test suite and every docstring example of the package.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --doctest-modules refocus_bench tests

# ruff (lint + format), and no function over 80 lines / file over 600 without a stated reason.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/check_sizes.py refocus_bench

bench: $(STAMP)
	mkdir -p out/bench && $(BIN)/python -m pytest perf --benchmark-only --benchmark-columns=min,mean,max,rounds -q -s --benchmark-json out/bench/benchmarks.json

fidelity: $(STAMP)
	$(BIN)/python -m refocus_bench.simulators.render.fidelity --samples 2048

clean:
	rm -rf $(VENV) out .pytest_cache .benchmarks
