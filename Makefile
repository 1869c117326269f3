# leadlake — two commands matter: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JARS_DIR ?= .jars
export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: demo test install jars lint bench bench-bronze bench-splink lock clean

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.0.1
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

install: $(VENV)/.installed jars

# Delta's Spark jars, pinned in jars/pom.xml, fetched once from Maven Central into $(JARS_DIR).
# A machine without Maven keeps working on the delta-rs path; the reason is recorded for the tests.
jars: $(JARS_DIR)/.fetched
$(JARS_DIR)/.fetched: jars/pom.xml
	@mkdir -p $(JARS_DIR)
	@rm -f $(JARS_DIR)/.unavailable
	@if mvn -q -B -f jars/pom.xml dependency:copy-dependencies -DoutputDirectory=$(abspath $(JARS_DIR)) \
	     -DincludeScope=runtime > $(JARS_DIR)/mvn.log 2>&1; then touch $@; \
	 else echo "mvn could not fetch Delta's Spark jars (see $(JARS_DIR)/mvn.log)" > $(JARS_DIR)/.unavailable; \
	      echo "warning: $$(cat $(JARS_DIR)/.unavailable); the delta-rs path still works"; fi

demo: install
	$(VENV)/bin/leadlake demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install lint
	$(PY) -m pytest -q

bench: install
	$(VENV)/bin/leadlake bench --businesses 10000

bench-bronze: install
	$(VENV)/bin/leadlake bench --businesses 100000 --through bronze

lock: $(VENV)/.installed
	$(PY) -m pip freeze --exclude-editable | sed '1i # Full pinned set resolved together on Python 3.11 (pip freeze). Regenerate with: make lock' > constraints.txt

clean:
	rm -rf lakehouse .state airflow_home
