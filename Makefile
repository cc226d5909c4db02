# The two commands: `make run` starts everything, `make test` runs every test tier and the linters.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROJECTS := shared services/backup-service services/image-service services/billing-service services/replication-service \
            services/compute-service tools/devstack tools/imsctl tools/docgen
# Their distribution names: installed from the tree, never pinned.
LOCAL_PACKAGES := ims-shared backup-service image-service billing-service replication-service \
                  compute-service ims-devstack imsctl ims-docgen
# Every test directory: the shared package's, each service's, each tool's, the system's and the benchmark's report.
TESTS  := shared/tests services/*/tests tools/*/tests tests bench/tests

.PHONY: install constraints browser run test test-unit test-integration test-e2e test-faults lint asyncapi kafka-acls docs bench bench-broker clean

$(STAMP): constraints.txt requirements-dev.in requirements-services.in $(addsuffix /pyproject.toml,$(PROJECTS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -r requirements-services.in -r requirements-dev.in
	touch $(STAMP)

install: $(STAMP)

# Pins every package `make install` installs, keeping the versions already pinned (uv prefers those of the file
# it writes); only a new or removed requirement changes the file.
constraints: $(STAMP)
	$(BIN)/uv pip compile --quiet --no-header --python $(BIN)/python requirements-services.in requirements-dev.in \
	  $(addprefix --no-emit-package ,$(LOCAL_PACKAGES)) -o constraints.txt

# The console's browser test drives Debian's Chromium; installed when missing and we may (root), else it skips.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and chromium-driver for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "could not install chromium: the browser test will skip"; \
	  else echo "chromium not installed and not root: the browser test will skip"; fi; \
	fi

run: $(STAMP)
	PYTHONUNBUFFERED=1 $(BIN)/python -m ims_devstack

test: $(STAMP) browser
	$(BIN)/pytest $(TESTS)
	$(MAKE) lint

test-unit: $(STAMP)
	$(BIN)/pytest -m "not integration and not e2e and not faults" $(TESTS)

test-integration: $(STAMP)
	$(BIN)/pytest -m integration $(TESTS)

test-e2e: $(STAMP)
	$(BIN)/pytest -m e2e tests

test-faults: $(STAMP)
	FAULTS_FULL=1 $(BIN)/pytest -m faults tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	PYTHONUNBUFFERED=1 $(BIN)/python -m bench.run

bench-broker: $(STAMP)
	PYTHONUNBUFFERED=1 $(BIN)/python -m bench.broker

asyncapi: $(STAMP)
	$(BIN)/python -m ims_docgen.asyncapi > docs/asyncapi.json

# The compose deployment's Kafka init step (topics, SCRAM users, ACLs), from the contract and the services' wiring.
kafka-acls: $(STAMP)
	$(BIN)/python -m ims_docgen.kafka_acls deploy/kafka/init.sh

# Regenerates every generated document; tests fail when a committed one is stale.
docs: asyncapi kafka-acls
	$(BIN)/python -m ims_docgen.configdoc > docs/configuration.md
	$(BIN)/python -m ims_docgen.openapidoc
	$(BIN)/python -m ims_docgen.producers

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
