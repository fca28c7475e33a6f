# The README's two commands are `make demo` and `make test`; each sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-v1
DEPLOY_VENV := .venv-deploy

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint format typecheck cfn-lint checkov asl unit integration coverage bench docs build validate deploy clean

help:
	@echo "make demo   - the migration state machine's dry run on the embedded AWS"
	@echo "make test   - every check: lint, types, template, state machines, tests"
	@echo "make bench  - benchmarks (bench/), figures printed"
	@echo "make build  - sam build (finds a python3.13, or says what to install)"
	@echo "make validate - sam validate --lint (offline)"
	@echo "make deploy - sam deploy (needs AWS credentials)"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "Python 3.11 to 3.13 required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/v6migrate demo

test: setup lint typecheck cfn-lint checkov asl unit integration coverage

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/mypy

cfn-lint: setup
	$(BIN)/cfn-lint template.yaml target-account-role.yaml

CHECKOV_VENV := .venv-checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

# both templates and the SAM-translated one; every failed check justified in docs/iam.md
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/python tools/checkov_gate.py

asl: setup
	$(BIN)/statelint statemachines/*.asl.json
	$(BIN)/pytest -q tests/asl

# Coverage is measured over both runs (unit starts it afresh, integration adds to it); `coverage`
# reports it and checks the floor in pyproject.toml.
# tests/artifacts builds the functions and the layer as `sam build` does and loads them as Lambda does
unit: setup
	$(BIN)/pytest -q -n auto --dist loadgroup tests/unit tests/artifacts --cov --cov-report= --cov-fail-under=0

# tests/conformance holds the embedded AWS against AWS's references with plain boto3 (its own
# process: one embedded AWS per worker; V6MIGRATE_CONFORMANCE_ACCOUNT drives a real account too)
integration: setup
	$(BIN)/pytest -q -n auto tests/integration --cov --cov-append --cov-report= --cov-fail-under=0
	$(BIN)/pytest -q -n auto tests/conformance --cov --cov-append --cov-report= --cov-fail-under=0

coverage: setup
	$(BIN)/coverage report

bench: setup
	$(BIN)/python -m pip install --quiet -r requirements-bench.txt
	$(BIN)/python -m tooling.asl_budget
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/apply_scale.py
	$(BIN)/python bench/fault_matrix.py
	$(BIN)/python bench/migration_cost.py
	$(BIN)/python bench/wave_scale.py
	$(BIN)/python bench/report_reads.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/mutation.py --jobs 2

docs: setup
	$(BIN)/python -c 'from v6migrate.events import reference; print(reference())' > docs/events.md
	$(BIN)/python -c 'from pathlib import Path; from v6migrate.events import schema_files; [Path("docs/events", n).write_text(t) for n, t in schema_files().items()]'
	$(BIN)/python tooling/openapi.py > docs/openapi.json
	$(BIN)/python tooling/event_registry.py

$(DEPLOY_VENV)/.installed: requirements-deploy.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r requirements-deploy.txt
	@touch $@

# The SAM CLI sends no telemetry from here; `sam build` needs the runtime's python3.13 on PATH,
# found on PATH or where pyenv, asdf or uv put it (tools/lambda_build.py says what to install).
SAM := SAM_CLI_TELEMETRY=0 $(DEPLOY_VENV)/bin/sam

build: $(DEPLOY_VENV)/.installed
	@python313="$$($(PYTHON) tools/lambda_build.py find-python)" || exit 1; \
	PATH="$$(dirname "$$python313"):$$PATH" $(SAM) build && \
	$(PYTHON) tools/lambda_build.py compile .aws-sam/build

validate: $(DEPLOY_VENV)/.installed
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-eu-west-1} $(SAM) validate --lint

# checked first (tools/deploy_check.py): API Gateway's logging role, the external id parameter
deploy: setup
	$(BIN)/python tools/deploy_check.py --config-env $${ENV:-dev}
	$(MAKE) build
	$(SAM) deploy --config-env $${ENV:-dev}

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
