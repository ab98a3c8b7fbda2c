# One command per job. Everything runs against DATABASE_URL when it is set, otherwise against
# the embedded PostgreSQL in .pgdata/ (started on demand, stopped by `make db-stop`).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
ROWS   ?= 200000
SEED   ?= 42
# The demo logs end here (fixed: the shipped demo model v1 was trained on exactly these logs).
DEMO_END ?= 2026-11-26T00:00:00+00:00
VERIFY_ROWS ?= 100000
LOGHUB ?= ../shared/data/loghub
# dbt packages for `make evaluate-project` (tarballs; the package hub is not reachable offline)
DBT_PACKAGES ?= ../shared/vendor/dbt-packages
DBT    := $(PY) -m dbt_project dbt

.PHONY: help setup lock demo pipeline load load-loghub export-model versions activate rollback \
        label promote challenger verify demo-model check-generated evaluate evaluate-replay evaluate-project run \
        freshness notify docs serve test lint db-stop citus-up citus-down \
        bench clean

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
	$(DBT) build
	$(PY) -m dbt_project summary

load: setup  ## load logs: make load ARGS="jsonl app.jsonl" (see README, Loading logs)
	$(PY) -m ingest create-source
	$(PY) -m ingest $(ARGS)

load-loghub: setup  ## load every loghub sample system (documented level mapping)
	$(PY) -m ingest create-source
	$(PY) -m ingest loghub $(LOGHUB)/*/

export-model: setup  ## retrain, compile to SQL, register a new active version (ARGS=--challenger: shadow)
	$(DBT) run --select stg_log_entries
	$(PY) -m model_export export $(ARGS)

versions: setup  ## every model version with its role (active, challenger) and held-out metrics
	$(PY) -m model_export versions

label: setup  ## label the template of log line ID as LABEL=anomalous|normal (used by the next export-model)
	@case "$(LABEL)" in anomalous|normal) ;; *) echo "usage: make label ID=123 LABEL=anomalous|normal"; exit 2;; esac
	@test -n "$(ID)" || { echo "usage: make label ID=123 LABEL=anomalous|normal"; exit 2; }
	$(PY) -m model_export label --log-entry-id $(ID) --$(LABEL)

activate: setup  ## make VERSION (e.g. VERSION=v3) the active model version; no retraining
	@test -n "$(VERSION)" || { echo "usage: make activate VERSION=vN"; exit 2; }
	$(PY) -m model_export activate $(VERSION)

rollback: setup  ## back to the version that was active before the current one
	$(PY) -m model_export rollback

promote: setup  ## the challenger becomes the active version
	$(PY) -m model_export promote

challenger: setup  ## VERSION=vN scores new logs in shadow beside the active one (VERSION=none clears)
	@test -n "$(VERSION)" || { echo "usage: make challenger VERSION=vN (or VERSION=none)"; exit 2; }
	$(PY) -m model_export challenger $(if $(filter none,$(VERSION)),--clear,$(VERSION))

verify: setup  ## score VERIFY_ROWS rows in SQL and with the joblib Pipelines; compare
	$(PY) -m model_export verify --rows $(VERIFY_ROWS)

demo-model: setup  ## retrain the shipped demo model v1 (after changing the models or the compiler)
	$(PY) -m model_export demo-model --rows $(ROWS) --seed $(SEED) --end $(DEMO_END)

check-generated: setup  ## regenerate the generated macros/seeds from the artifacts; fail on a diff
	$(PY) -m model_export check

evaluate: setup  ## held-out quality (loghub systems, generated logs, the replay, baselines): docs/evaluation.html, README
	$(PY) -m model_export evaluate --loghub-dir $(LOGHUB) --generated-rows 20000 \
		--report docs/evaluation.html --readme README.md

evaluate-replay: setup  ## only the replay: the product run by run on held-out days, issue 21's targets (prints)
	$(PY) -m model_export evaluate --loghub-dir $(LOGHUB) --replay-only

evaluate-project: setup  ## dbt-project-evaluator (dbt Labs' rules) in a temp copy; fails on a warning
	$(PY) -m dbt_project evaluate-project --packages $(DBT_PACKAGES)

run: setup  ## dbt build (seed, score new logs, stats, alerts, tests) against the configured database
	$(DBT) build

freshness: setup  ## dbt source freshness: do logs still arrive? (warn after 12 h, error after 48 h)
	$(DBT) source freshness

notify: setup  ## send each new alert once to LOGML_ALERT_WEBHOOK_URL (ARGS=--dry-run: show only)
	$(PY) -m alerts notify $(ARGS)

docs: setup  ## build the static dbt docs site (target/static_index.html)
	$(DBT) docs generate --static
	@echo "open $(CURDIR)/target/static_index.html in a browser (one self-contained file)"

serve: setup  ## serve the read-only API and the dashboard on API_HOST:API_PORT (127.0.0.1:8000)
	$(PY) -m api

test: setup  ## the test suite (real embedded PostgreSQL, real dbt, headless Chromium)
	$(PY) -m pytest

lint: setup  ## ruff, mypy and sqlfluff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m sqlfluff lint

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
	$(PY) -m bench.citus_scaling --rows 1000000
	$(PY) -m bench.api_latency --rows 10000000

clean:  ## remove build products (not the database: see db-stop)
	rm -rf target dbt_packages logs .dbt test-artifacts
