# Threadline: `make demo` runs it, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# One stamp per install kind, named after pyproject.toml's content: editing it reinstalls.
HASH         := $(shell cat pyproject.toml | sha1sum | cut -c1-12)
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(HASH)
TEST_STAMP    := $(VENV)/.installed-test-$(HASH)

.PHONY: demo serve test test-fast services lint bench install install-test clean

$(PY):
	@echo "==> [1/3] creating the virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)

# The long steps print pip's own progress (no -q): a first install takes minutes.
$(RUNTIME_STAMP): pyproject.toml | $(PY)
	@echo "==> [2/3] upgrading pip"
	$(PY) -m pip install -q --upgrade pip
	@echo "==> [3/3] installing Threadline and its runtime dependencies"
	$(PY) -m pip install --progress-bar on -e .
	rm -f $(VENV)/.installed-runtime-* && touch $(RUNTIME_STAMP)
	@echo "==> installed"

# The test install is a superset of the runtime one, so it satisfies both stamps.
$(TEST_STAMP): pyproject.toml | $(PY)
	@echo "==> [2/3] upgrading pip"
	$(PY) -m pip install -q --upgrade pip
	@echo "==> [3/3] installing Threadline with its test dependencies"
	$(PY) -m pip install --progress-bar on -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(RUNTIME_STAMP) $(TEST_STAMP)
	@echo "==> installed"

install: $(RUNTIME_STAMP)

install-test: $(TEST_STAMP)

demo: install ## migrate SQLite, load demo data, serve on http://127.0.0.1:8000
	$(VENV)/bin/threadline demo
	$(VENV)/bin/threadline serve

serve: install
	$(VENV)/bin/threadline serve

services:
	./scripts/ensure-services.sh

test: install-test services ## the whole suite: unit, integration (SQLite + PostgreSQL + Redis), browser
	$(PY) -m pytest

test-fast: install-test
	$(PY) -m pytest tests/unit

lint: install-test ## ruff (lint + format) over src, tests, bench; mypy --strict over src
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

bench: install services
	$(PY) bench/routing.py
	$(PY) bench/chat_ingest.py

clean:
	rm -rf $(VENV) threadline.db threadline.db-wal threadline.db-shm
