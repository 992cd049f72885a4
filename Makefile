# hws — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: run test lint install install-test tools console-screenshots clean

## What the service needs (make run): the package and its dependencies, no test tools.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

## What the suite needs on top (make test, make lint): the test extras.
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

## Start the service on the embedded default (SQLite + ./var).
run: $(STAMP)
	$(BIN)/hws serve

## Lint: ruff (rules and formatting) and mypy, configured in pyproject.toml.
lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## Set up, lint, and run the whole suite.
test: $(TEST_STAMP) tools lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## System tools the suite uses, from Debian's packages: faketime (year-end tests move the
## wall clock) and chromium (the API reference pages and the operator console are tested
## in a real browser, driven by playwright through /usr/bin/chromium: no browser download;
## axe-core and node-oidc-provider come from the npm registry, with Debian's npm).
tools:
	@missing=""; command -v faketime >/dev/null || missing="$$missing faketime"; \
	  test -x /usr/bin/chromium || missing="$$missing chromium"; \
	  command -v npm >/dev/null || missing="$$missing npm"; \
	  test -z "$$missing" || apt-get install -y -q $$missing >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null) \
	  || (echo "make test needs Debian's$$missing: apt-get install$$missing" >&2; exit 1)

## The operator guide's pictures of the console: the browser tests take them under
## test-artifacts/console/ (git-ignored); this copies those the guide shows into docs/images/console/.
console-screenshots: $(TEST_STAMP) tools
	rm -rf test-artifacts/console
	$(BIN)/python -m pytest -n 2 -q tests/e2e -k console
	mkdir -p docs/images/console
	for name in $$(grep -o 'images/console/[a-z0-9-]*\.png' docs/operator-guide.md | sort -u); do \
	  cp test-artifacts/console/$$(basename $$name) docs/images/console/; done

clean:
	rm -rf $(VENV) var .pytest_cache build src/*.egg-info
