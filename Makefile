# Journey Warehouse: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export JW_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(JW_DATA_DIR)/dagster_home
DOCS_PORT ?= 8080
UI_PORT ?= 3000

.PHONY: install demo test test-postgres test-spark bench ui dashboard docs lock clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

demo: $(STAMP)
	$(BIN)/journey demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-postgres: $(STAMP)   # the demo world on PostgreSQL (JW_POSTGRES_URL's server) and DuckDB, every mart compared by checksum
	$(BIN)/journey compare postgres $(COMPARE_ARGS)

test-spark: $(STAMP)   # the demo world (200 people, 14 days unless COMPARE_ARGS) on Spark (Thrift server from pyspark; needs Java 17) and DuckDB, every mart compared by checksum
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,spark]"
	$(BIN)/journey compare spark $(or $(COMPARE_ARGS),--people 200 --days 14)

bench: $(STAMP)   # the pipeline against a DuckDB-native baseline up to 10 M events (PIPELINE_BENCH_ARGS="--quick" for a smoke run; results in bench/results/); ingestion speed against DuckDB's own, at 20,000 people (minutes; BENCH_ARGS="--people 2000" for a quick look); the CLV fit at 100,000 customers (seconds). Never part of make test.
	$(BIN)/python -m orchestration.cli bench pipeline $(PIPELINE_BENCH_ARGS)
	$(BIN)/python bench/ingestion_speed.py $(BENCH_ARGS)
	$(BIN)/python bench/clv_fit.py

ui: $(STAMP)   # Dagster's UI and daemon (schedules, sensors, automation, freshness) on http://127.0.0.1:$(UI_PORT)/
	$(BIN)/python -m orchestration.instance
	$(BIN)/dg dev --port $(UI_PORT)

dashboard: $(STAMP)   # the reporting dashboard on http://127.0.0.1:8501 (DASHBOARD_ARGS="--port 8502"); reads the serving copy
	$(BIN)/journey dashboard $(DASHBOARD_ARGS)
docs: $(STAMP)   # dbt docs of the current warehouse ($(JW_DATA_DIR)/dbt_docs), served on http://127.0.0.1:$(DOCS_PORT)/
	$(BIN)/journey docs --serve --port $(DOCS_PORT)

lock:
	$(BIN)/python -m pip freeze --exclude-editable | sed '1i # Exact versions of everything `make` installs (direct and transitive). Refresh with `make lock`.' > constraints.txt

clean:
	rm -rf $(JW_DATA_DIR) dbt_project/target dbt_project/logs
