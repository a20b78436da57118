# Early Help API - the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv bench clean lock

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

## Create the environment, migrate, seed the demo, start every process (Ctrl-C stops them).
run: $(STAMP)
	$(PY) -m devtools.run

## Every check: lint, unit, service and end-to-end tests, on SQLite and on PostgreSQL.
test: $(STAMP)
	$(PY) -m devtools.testrun

lint: $(STAMP)
	$(PY) -m devtools.testrun --only lint

## Benchmarks (loopback only, bounded); see docs/performance.md.
bench: $(STAMP)
	$(PY) -m bench.gateway

## Re-pin dependencies from requirements.in.
lock: $(STAMP)
	$(PY) -m pip install --quiet -r requirements.in
	$(PY) -m pip freeze --exclude-editable | grep -v '^early-help-api' > requirements.lock

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
