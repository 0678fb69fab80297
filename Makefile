.PHONY: setup test test-all check lint
VENV ?= .venv

setup:            ## everything a fresh machine needs (idempotent)
	./scripts/setup.sh

test:             ## the test suite CI runs
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-all:         ## including slow tests
	$(VENV)/bin/python -m pytest -q

lint:
	$(VENV)/bin/ruff check knowledge bot adapters scripts tests

check: test lint
