# One task runner: setup, broker, worker, demo, test, lint.
# Every target installs what it needs, so each works from a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup kafka-up kafka-down kafka-status worker demo test lint schemas clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# strict editable mode: a link tree that mypy follows (docs/design.md, "Repository layout")
	# the litellm extra too: the LiteLLM bridge and its tests run in CI
	$(BIN)/pip install -q -e '.[dev,litellm]' --config-settings editable_mode=strict
	@touch $(STAMP)

## setup: create .venv with the project and its dev tools
setup: $(STAMP)

## kafka-up / kafka-down / kafka-status: the local broker (Kafka 4.x from Maven jars)
kafka-up:
	$(PYTHON) kafka/broker.py up
kafka-down:
	$(PYTHON) kafka/broker.py down
kafka-status:
	$(PYTHON) kafka/broker.py status

## worker: run a stream worker in the foreground (MODELROUTER_* configure it)
worker: setup kafka-up
	$(BIN)/modelrouter worker

## demo: the main job — broker, worker, a simulated fleet through an outage, and a report
demo: setup
	$(BIN)/modelrouter demo

## test: everything, against a real broker started by the tests (fails if no kafka test ran)
test: setup
	MODELROUTER_REQUIRE_KAFKA_TESTS=1 $(BIN)/pytest

## lint: ruff (lint + format check) and mypy --strict on the packages
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p modelrouter.schemas -p modelrouter.agents -p modelrouter.streams -p modelrouter.cli -p modelrouter.local_kafka

## schemas: regenerate the JSON Schema files in docs/schemas
schemas: setup
	$(BIN)/modelrouter schemas export

clean:
	rm -rf build *.egg-info .mypy_cache .ruff_cache .pytest_cache
