# Threadline: `make demo` runs it, `make test` runs the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo serve test test-fast services lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

demo: install ## migrate SQLite, load demo data, serve on http://127.0.0.1:8000
	$(VENV)/bin/threadline demo
	$(VENV)/bin/threadline serve

serve: install
	$(VENV)/bin/threadline serve

services:
	./scripts/ensure-services.sh

test: install services ## the whole suite: unit, integration (SQLite + PostgreSQL + Redis), browser
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest tests/unit

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

bench: install services
	$(PY) bench/routing.py
	$(PY) bench/chat_ingest.py

clean:
	rm -rf $(VENV) threadline.db threadline.db-wal threadline.db-shm
