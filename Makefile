# One command per job. Everything runs against DATABASE_URL when it is set, otherwise against
# the embedded PostgreSQL in .pgdata/ (started on demand, stopped by `make db-stop`).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ROWS   ?= 200000
SEED   ?= 42

.PHONY: help setup lock demo pipeline load export-model verify run docs test lint db-stop bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY)  ## create .venv and install the locked dependencies
	$(PY) -m pip install --quiet -r requirements.lock

lock: $(PY)  ## refresh requirements.lock from pyproject.toml (needs the network)
	$(PY) -m pip install --quiet '.[dev]'
	$(PY) -m pip uninstall --quiet --yes logml
	$(PY) -m pip freeze > requirements.lock

demo: pipeline  ## the whole pipeline on the embedded database, then a summary

pipeline: setup  ## create the source, load ROWS generated logs (once), export models, dbt build, summary
	$(PY) -m dbt_project create-source
	$(PY) -m dbt_project load generate --rows $(ROWS) --seed $(SEED) --if-empty
	$(PY) -m dbt_project summary

load: setup  ## load more logs: make load ARGS="loghub ../shared/data/loghub/BGL/BGL_2k.log_structured.csv"
	$(PY) -m dbt_project create-source
	$(PY) -m dbt_project load $(ARGS)

test: setup  ## the test suite (real embedded PostgreSQL, real dbt)
	$(PY) -m pytest

lint: setup  ## ruff, mypy and sqlfluff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

db-stop: setup  ## stop the embedded PostgreSQL
	$(PY) -m dbt_project db-stop

bench: setup  ## benchmarks under bench/ (minutes; results in bench/results/)
	$(PY) -m bench.loader_throughput

clean:  ## remove build products (not the database: see db-stop)
	rm -rf target dbt_packages logs .dbt
