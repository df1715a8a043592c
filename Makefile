# Postino: the commands a newcomer and CI run. Everything installs itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs Python 3.12: use it when present (pyenv, or on PATH), else python3.
PY312 := $(lastword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12))
PYTHON ?= $(or $(PY312),$(shell command -v python3.12 2>/dev/null),python3)
VENV := .venv
BIN := $(VENV)/bin
SAM := .tools/sam/bin/sam
# sam build (BuildMethod: python3.12) looks for python3.12 on PATH.
export PATH := $(dir $(PYTHON)):$(PATH)
export SAM_CLI := $(CURDIR)/$(SAM)
export SAM_CLI_TELEMETRY := 0

.PHONY: help run demo inbound test lint typecheck build validate deploy clean bench bench-drain-cpu bench-drain-pacing bench-drain-virtual fuzz soak soak-aws-faults mutate

help:
	@echo "make run       the gateway on this machine: embedded AWS (moto) and a Meta sandbox"
	@echo "make demo      the product's story against the local stack (starts one if needed)"
	@echo "make inbound FROM=393331234567 TEXT='RES-AB12CD please'   play a customer"
	@echo "make test      lint, type-check and run every test (installs what it needs)"
	@echo "make build     sam build"
	@echo "make bench     AWS requests and dollars per message, cold starts, package sizes"
	@echo "make bench-drain-virtual   the real drain in simulated time: 1 x 80, 1 x 1,000, 20 x 80 msg/s"
	@echo "make fuzz      17,500 generated hostile requests at the webhooks and the send API"
	@echo "make soak      1,000 messages through faults and killed drainers; fails on any loss"
	@echo "make soak AWS_FAULTS=1   (or make soak-aws-faults) AWS fails too: DynamoDB throttles,"
	@echo "               DynamoDB and SQS 500s, writes applied then dropped (bench/soak.py --aws-faults;"
	@echo "               make cannot take 'make soak --aws-faults': it reads that as its own option)"
	@echo "make mutate    mutmut over the guards of money, safety and secrets: tests/mutation.json"
	@echo "make mutate MODULE=postino/links.py   one module (about a minute to twenty)"
	@echo "make validate  sam validate --lint, cfn-lint and checkov"
	@echo "make deploy    sam deploy --guided"

run: $(VENV)/.installed $(SAM)
	$(BIN)/python -m local.run

demo: $(VENV)/.installed $(SAM)
	$(BIN)/python -m local.demo

FROM ?= 393331234567
TEXT ?= Ciao!
inbound: $(VENV)/.installed $(SAM)
	$(BIN)/python -m local.demo inbound --from "$(FROM)" --text "$(TEXT)"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	# The `postino` command; setuptools is pinned in requirements-dev.txt, so no build isolation.
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(SAM): requirements-sam.txt
	$(PYTHON) -m venv .tools/sam
	.tools/sam/bin/pip install -q --disable-pip-version-check -r requirements-sam.txt
	touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy layers/common/postino local tests cli bench
	# Each function's app.py is a top-level module named "app": check them one at a time.
	for d in functions/*/; do \
	  [ -e "$$d/app.py" ] || continue; \
	  MYPYPATH=layers/common:$$d $(BIN)/mypy $$d*.py || exit 1; \
	done

# A test whose tool is missing (Chromium, Python 3.12) is skipped with the reason in the
# summary; POSTINO_NO_SKIPS=1 (as .ci/run sets it) fails it instead (tests/support/prerequisites.py).
# A missing contract (../shared/contracts) always fails.
test: $(VENV)/.installed $(SAM) lint typecheck
	$(BIN)/pytest -n 2

build: $(SAM)
	$(SAM) build

# Not part of `make test`: prints a table and writes bench/results.json.
bench: $(VENV)/.installed $(SAM)
	$(BIN)/python bench/run.py

# The drain's own CPU per message against a canned AWS (bench/drain_cpu.py): into results.json.
bench-drain-cpu: $(VENV)/.installed
	$(BIN)/python bench/drain_cpu.py

# The drain's pace against moto at 20 msg/s, with its dispatch trace (bench/drain_pacing.py).
bench-drain-pacing: $(VENV)/.installed $(SAM)
	$(BIN)/python bench/drain_pacing.py

# The real drain in simulated time at AWS's latencies: 1 x 80, 1 x 1,000 and 20 x 80 msg/s
# (bench/virtual_drain.py), into results.json. About two minutes here, most of it 20 x 80.
bench-drain-virtual: $(VENV)/.installed
	$(BIN)/python bench/virtual_drain.py

# The full run of the hostile-input tests (make test runs 40 a test): hypothesis at the webhooks
# and the send API, schemathesis from the served OpenAPI document; 2,500 requests a test.
fuzz: $(VENV)/.installed
	POSTINO_FUZZ_EXAMPLES=2500 $(BIN)/pytest -p no:cacheprovider -s \
	  tests/integration/test_hostile_input.py tests/integration/test_openapi_fuzz.py \
	  --hypothesis-show-statistics

# Mutation testing of the modules that guard money, safety and secrets (tests/mutate.py):
# writes tests/mutation.json. Not part of make test (docs/testing.md: how long, one module).
MODULE ?=
$(VENV)/.mutmut: requirements-mutate.txt $(VENV)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-mutate.txt
	touch $@

# FULL=1: with the integration tests too (hours). AGAIN=1: in the last run's stage, only what
# it did not catch (or did not reach: a run stopped part way goes on), with today's tests.
AGAIN ?=
FULL ?=
mutate: $(VENV)/.mutmut $(SAM)
	$(BIN)/python -m tests.mutate $(MODULE) $(if $(FULL),--full) $(if $(AGAIN),--again)

# The local stack under faults and killed drainers; exits non-zero on any violation.
# make test runs a short one (tests/e2e/test_soak.py). AWS_FAULTS=1: AWS's faults too.
AWS_FAULTS ?=
soak: $(VENV)/.installed $(SAM)
	$(BIN)/python bench/soak.py --messages 1000 --kills 3 \
	  $(if $(filter 1 yes true,$(AWS_FAULTS)),--aws-faults)

soak-aws-faults:
	$(MAKE) soak AWS_FAULTS=1

CHECKOV := .tools/checkov/bin/checkov
$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# checkov reads parameter defaults: it also sees the template with WAHA on (EFS, PostgreSQL).
# Skips live in each resource's Metadata (checkov: skip), each with its reason.
validate: $(SAM) $(VENV)/.installed $(CHECKOV)
	$(SAM) validate --lint
	$(BIN)/cfn-lint template.yaml
	rm -rf .aws-sam/validate
	$(BIN)/python -m tests.infrastructure.rendering .aws-sam/validate
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml \
	  -f .aws-sam/validate/waha-efs/template.yaml -f .aws-sam/validate/waha-postgres/template.yaml

deploy: build
	$(SAM) deploy --guided

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
