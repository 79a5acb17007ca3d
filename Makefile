# usersync: `make demo` runs the whole pipeline locally; `make test` runs every test.
# Everything installs into .venv from PyPI; nothing else is needed (no Docker, no AWS account).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export SAM_CLI_TELEMETRY := 0

.PHONY: install demo test test-fast soak bench bench-ingest validate build clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("usersync needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# checkov in a venv of its own (its boto3 pin clashes with aws-sam-cli's): the `checkov` extra's pin
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet "$$($(BIN)/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["checkov"][0])')"
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/python -m usersync_dev.demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not infra"

# The property-based delivery tests with many more generated examples (tens of minutes).
soak: $(STAMP)
	USERSYNC_SOAK=1 $(BIN)/python -m pytest -p no:cacheprovider --timeout 0 tests/integration/test_delivery_properties.py

validate: $(STAMP)
	$(BIN)/sam validate --lint

build: $(STAMP)
	$(BIN)/sam build

# Every benchmark, then the plots: bench/results/*.json and *.png (a few minutes; docs/performance.md).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# S3 file ingestion: a 1 GB CSV against a 10 MB one (about 6 minutes here; docs/performance.md).
bench-ingest: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache
