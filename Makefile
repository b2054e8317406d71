# GridSec operator verbs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
GRIDSEC := $(VENV)/bin/gridsec
LOCK    := requirements/lock.txt
# The install stamp changes whenever the lock or the package metadata changes, so a second
# `make setup` skips pip entirely and a changed lock reinstalls.
DEPS_STAMP := $(VENV)/.deps-$(shell cat $(LOCK) pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: help setup run test bench eval validate lint types test-rasa soak clean

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	@echo "==> creating $(VENV) with Python 3.10"
	@$$(tools/find-python.sh) -m venv $(VENV)

$(DEPS_STAMP): | $(PY)
	@echo "==> installing locked dependencies from $(LOCK) (first time: several minutes)"
	@$(PY) -m pip install --quiet -r $(LOCK)
	@echo "==> installing the gridsec package (editable)"
	@$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.deps-*
	@touch $@

# A CJK font lets the photo tests draw Chinese text for OCR. Debian's package, installed once (as root).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
$(CJK_FONT):
	@echo "==> installing a CJK font (fonts-wqy-zenhei) for the OCR tests"
	@if [ "$$(id -u)" = 0 ]; then (apt-get update -qq || true) && apt-get install -y -qq fonts-wqy-zenhei >/dev/null; \
	 else echo "    not root: install fonts-wqy-zenhei yourself for the OCR tests"; fi

# The browser tests drive Debian's chromium through Playwright (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "==> installing chromium for the browser tests"
	@if [ "$$(id -u)" = 0 ]; then (apt-get update -qq || true) && apt-get install -y -qq chromium >/dev/null; \
	 else echo "    not root: install chromium yourself for the browser tests"; fi

setup: $(DEPS_STAMP) | $(CJK_FONT) $(CHROMIUM) ## create .venv, install the lock, migrate + seed the database, train the model if data changed
	@$(GRIDSEC) setup

run: setup ## set up, then start the whole service on localhost (local mode without credentials)
	@$(GRIDSEC) serve

test: setup ## the whole test suite (pytest: storage, routing, NLU quality floors, channels)
	@$(PY) -m pytest $(PYTEST_ARGS)

test-rasa: setup ## rasa data validate, then `rasa test core` over tests/conversation/stories (also part of make test)
	@$(VENV)/bin/rasa data validate --data nlu_data --domain domain.yml --config config.yml
	@$(PY) -m pytest -q tests/conversation/test_rasa_test_core.py

soak: setup ## the long soak variants of the fuzz and fault tests (pytest -m soak; deselected by `make test`)
	@$(PY) -m pytest -m soak $(PYTEST_ARGS)

bench: setup ## the benchmarks, each with its baseline from the same run
	@$(GRIDSEC) bench

eval: setup ## the NLU and routing evaluation reports (written to var/eval/)
	@$(GRIDSEC) eval

validate: setup ## rasa data validate
	@$(VENV)/bin/rasa data validate --data nlu_data --domain domain.yml --config config.yml

lint: $(DEPS_STAMP) ## ruff
	@$(VENV)/bin/ruff check bot actions routing storage tests tools

types: $(DEPS_STAMP) ## mypy
	@$(VENV)/bin/mypy

clean: ## remove generated state (keeps .venv)
	rm -rf var models results .pytest_cache
