# Switchyard developer commands. `make help` lists them.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PYTEST_ARGS ?=

.PHONY: help setup up test lint fmt bench

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

setup: $(STAMP)  ## create .venv with the API, every pool's extra and the dev tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -e '.[all,dev]'
	touch $(STAMP)

up: setup  ## run Switchyard: embedded Postgres + Redis unless DATABASE_URL / REDIS_URL are set
	$(BIN)/switchyard up

test: setup  ## run the whole test suite (starts Postgres / Redis for the tests if none answer)
	$(BIN)/pytest $(PYTEST_ARGS)

lint:  ## ruff + mypy --strict on domain/, events/, workers/, api/, infra/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt:  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

BENCHES ?= jobs inventory upload login blob robodata inspection rigging studio
bench: setup  ## print the benchmark figures (each module under bench/)
	@for b in $(BENCHES); do \
	  if [ -f bench/$$b.py ]; then echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; fi; \
	done
