# The two commands: `make run` starts everything, `make test` runs every test tier and the linters.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROJECTS := shared services/backup-service services/image-service services/billing-service services/replication-service

.PHONY: install run test test-unit test-integration test-e2e test-faults lint asyncapi bench clean

$(STAMP): constraints.txt requirements-dev.in requirements-services.in $(addsuffix /pyproject.toml,$(PROJECTS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -r requirements-services.in -r requirements-dev.in
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	PYTHONUNBUFFERED=1 $(BIN)/python -m ims_shared.devstack

test: $(STAMP)
	$(BIN)/pytest shared/tests services/*/tests tests
	$(MAKE) lint

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e and not faults" shared/tests services/*/tests tests

test-integration: $(STAMP)
	$(BIN)/pytest -m integration shared/tests services/*/tests tests

test-e2e: $(STAMP)
	$(BIN)/pytest -m e2e tests

test-faults: $(STAMP)
	FAULTS_FULL=1 $(BIN)/pytest -m faults tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

asyncapi: $(STAMP)
	$(BIN)/python -m ims_shared.asyncapi > docs/asyncapi.json

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
