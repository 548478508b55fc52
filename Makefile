# Config Service developer commands. Everything runs from a virtualenv in .venv,
# created on first use and re-synced whenever requirements*.txt change.
#
#   make run          serve on http://$GUNICORN_BIND (127.0.0.1:8000; embedded PostgreSQL unless DATABASE_URL is set)
#   make test         run the test suite (ARGS="-k name -x" passes options to pytest)
#   make lint         ruff check + ruff format --check
#   make tox          the suite on Python 3.10-3.13, in parallel
#   make bench        the benchmark: seed, serve, wrk, table + docs/benchmarks.{md,png} (ARGS="--size 1000000")
#   make devdb-stop   stop the embedded development PostgreSQL
#   make clean        remove .venv, .tox and caches (keeps .devdb data)
#   make distclean    clean + stop and delete the embedded PostgreSQL data (.devdb)

PYTHON ?= python3
VENV ?= .venv
ARGS ?=
TOX_JOBS ?= auto

VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.DEFAULT_GOAL := help
.PHONY: help venv run test lint tox bench devdb-stop clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Create the virtualenv. A failed `python3 -m venv` (Debian/Ubuntu without python3-venv)
# leaves a half-made folder behind: remove it and say what to install.
$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || { \
	  echo "error: Python 3.10+ is required; '$(PYTHON)' is $$($(PYTHON) -V 2>/dev/null || echo missing)." \
	       "Use: make PYTHON=python3.X ..." >&2; exit 1; }
	@echo "creating virtualenv $(VENV) with $$($(PYTHON) -V 2>&1)"
	@out="$$($(PYTHON) -m venv $(VENV) 2>&1)" || { \
	  rm -rf $(VENV); printf '%s\n' "$$out" | tail -n 3 | sed 's/^/  /' >&2; \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }

# (Re)install dependencies when requirements change; the stamp records the last sync.
$(STAMP): requirements.txt requirements-dev.txt | $(VENV_PY)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	@DATABASE_URL="$$($(VENV_PY) -m app.devdb)" || exit 1; \
	export DATABASE_URL; \
	$(VENV)/bin/flask --app wsgi migrate || exit 1; \
	URL="http://$${GUNICORN_BIND:-127.0.0.1:8000}"; \
	$(VENV)/bin/flask --app wsgi tokens bootstrap --url "$$URL" || exit 1; \
	echo "Config Service on $$URL - try: curl -s $$URL/healthz"; \
	exec $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(VENV)/bin/pytest $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# ARGS go to tox here: ARGS="-e py312 -- -k name"
tox: $(STAMP)
	$(VENV)/bin/tox -p $(TOX_JOBS) $(ARGS)

# The benchmark's extra packages (matplotlib, py-spy) stay out of the test install.
$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	@touch $@

# Not part of `make test`: a few minutes of load on a database of its own (BENCH_DATABASE_URL,
# else TEST_DATABASE_URL, else the embedded PostgreSQL). Options: make bench ARGS="--help".
bench: $(STAMP) $(BENCH_STAMP)
	$(VENV_PY) -m tests.benchmarks.bench $(ARGS)

# The server's binaries live in .venv, so stop it before .venv goes away.
devdb-stop:
	@if [ -x $(VENV_PY) ]; then $(VENV_PY) -m app.devdb stop; \
	else echo "no $(VENV): nothing to stop"; fi

clean: devdb-stop
	rm -rf $(VENV) .tox .pytest_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.* coverage.xml
	find . -path ./.git -prune -o -path ./.devdb -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf .devdb
