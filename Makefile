# Haven: every target sets up what it needs on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SYNAPSE_VENV := .venv-synapse
SYNAPSE_VERSION := 1.163.2
export HAVEN_SYNAPSE_PYTHON := $(CURDIR)/$(SYNAPSE_VENV)/bin/python

.PHONY: venv synapse deploy-tools run demo walkthrough test test-unit lint i18n i18n-check i18n-report docs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(SYNAPSE_VENV)/.installed:
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/pip install --quiet --upgrade pip
	$(SYNAPSE_VENV)/bin/pip install --quiet 'matrix-synapse==$(SYNAPSE_VERSION)'
	touch $@

venv: $(BIN)/.installed
synapse: $(SYNAPSE_VENV)/.installed

run demo: venv synapse
	$(BIN)/haven demo

walkthrough: venv synapse
	$(BIN)/haven demo --walkthrough

# Debian tools the deployment tests use: installed when missing and possible (root with apt-get);
# otherwise those tests skip and say why.
deploy-tools:
	@command -v systemd-analyze >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; } \
	  || echo "systemd-analyze is not available: the systemd unit tests will skip"

test: venv synapse deploy-tools
	$(BIN)/ruff check bot flows adapters tests bench
	$(BIN)/ruff format --check bot flows adapters tests bench
	$(BIN)/mypy
	$(BIN)/python -m bot.i18n_check
	$(BIN)/pytest

test-unit: venv
	$(BIN)/pytest tests/unit tests/contract -m "not homeserver and not telegram_server and not subprocess"

lint: venv
	$(BIN)/ruff check bot flows adapters tests bench
	$(BIN)/ruff format --check bot flows adapters tests bench
	$(BIN)/mypy

# Crash tests and benchmarks against the baseline: writes bench/results.md and the plots (about 20
# minutes; QUICK=1 for a smaller sample, ROUNDS=N for the crash harness, up to 1000).
bench: venv
	$(BIN)/python -m bench $(if $(QUICK),--quick) $(if $(ROUNDS),--rounds $(ROUNDS))

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) .pytest_cache .mypy_cache .ruff_cache

I18N_KEYWORDS := -k t -k tn:1,2 -k tp:1c,2 -k N_
I18N_SOURCES := bot flows adapters

i18n: venv
	$(BIN)/pybabel extract --add-location=file --sort-output -c TRANSLATORS: --project=Haven --version=0.1 \
	  --msgid-bugs-address=https://haven.invalid/issues --copyright-holder="Haven contributors" \
	  $(I18N_KEYWORDS) -o locales/haven.pot $(I18N_SOURCES)
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i locales/haven.pot -d locales -D haven
	$(BIN)/pybabel compile --statistics -d locales -D haven

i18n-check: venv
	$(BIN)/python -m bot.i18n_check

i18n-report: venv
	$(BIN)/python -m bot.i18n_check --report

docs: venv
	$(BIN)/python -m flows.report > docs/guided-report.mmd
