.PHONY: setup test test-all test-postgres check lint
VENV ?= .venv

setup:            ## everything a fresh machine needs (idempotent)
	./scripts/setup.sh

# Two workers, one test file each at a time (module fixtures stay per file; each worker runs its own
# weaviate-server): the suite waits on servers, subprocesses and sockets about half the time. Files are handed out
# in collection order, the longest first (tests/conftest.py LONG_FIRST), not xdist's "most tests first", which
# left the one-test files that take minutes for the end.
PYTEST_WORKERS ?= -n 2 --dist loadfile --no-loadscope-reorder

test:             ## the test suite CI runs
	$(VENV)/bin/python -m pytest -q -m "not slow" $(PYTEST_WORKERS)

test-all:         ## including slow tests
	$(VENV)/bin/python -m pytest -q $(PYTEST_WORKERS)

test-postgres:    ## the suite CI runs, every database on a real PostgreSQL server instead of SQLite
	COURSEBOT_TEST_DATABASE=postgresql $(VENV)/bin/python -m pytest -q -m "not slow" $(PYTEST_WORKERS)

lint:
	$(VENV)/bin/ruff check knowledge bot adapters scripts tests

check: test lint
