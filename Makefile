# Two entry points (see README): `make quickstart` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# llama.cpp is built from source: portable x86-64 flags (AVX2), because a build tuned to the
# build machine can die with "Illegal instruction" on CPUs/VMs that advertise AVX-512/AMX.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF
# Offline at run and test time: no price-map or Hub downloads.
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: quickstart test install system-deps golden-sets bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$*]"
	touch $@

install: $(VENV)/.installed-local

# The run prints its summary and, as its last line, the run folder; route then reads that folder.
quickstart: $(VENV)/.installed-local
	@set -o pipefail; run_dir=$$($(BIN)/evalharness run configs/quickstart.yaml | tee /dev/stderr | tail -n 1) \
		&& echo && $(BIN)/evalharness route "$$run_dir"

system-deps:
	@bash scripts/system-deps.sh

test: $(VENV)/.installed-dev,local system-deps
	$(BIN)/python -m pytest -q

# Benchmarks (not part of `make test`): each prints markdown; paste the results into bench/RESULTS.md.
# The peers (inspect_ai, promptfoo) are installed outside the project's venv by bench/setup_peers.sh.
BENCHES := client_overhead bootstrap api_throughput peers embedded scale bundles batch_api viewer
bench: $(VENV)/.installed-dev,local
	bash bench/setup_peers.sh
	@set -e; for b in $(BENCHES); do echo "### bench/$$b.py" >&2; $(BIN)/python bench/$$b.py; done

golden-sets: $(VENV)/.installed-local
	$(BIN)/python -m evalharness.importers

clean:
	rm -rf $(VENV) results .pytest_cache
