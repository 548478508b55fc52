# Config Service developer commands. Everything runs from a virtualenv in .venv,
# created on first use and re-synced whenever requirements*.txt change.
#
#   make run          serve on http://$GUNICORN_BIND (127.0.0.1:8000; embedded PostgreSQL unless DATABASE_URL is set,
#                     stopped with the service unless KEEP_DEVDB=1)
#   make flask        a flask command on the database make run serves: make flask ARGS="tokens list"
#   make test         run the test suite (ARGS="-k name -x" passes options to pytest)
#   make lint         ruff check + ruff format --check + mypy (app/)
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
RUN_STAMP := $(VENV)/.installed-run
BENCH_STAMP := $(VENV)/.installed-bench

.DEFAULT_GOAL := help
.PHONY: help venv run bind-free flask test lint tox bench devdb-stop clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Create the virtualenv, without pip: `python3 -m venv` spends seconds installing pip into
# it, so when $(PYTHON) has a pip that installs into another environment (pip 22.3+,
# `--python`), that one is used; otherwise the virtualenv gets its own (ensurepip). A
# failure (Debian/Ubuntu without python3-venv) removes the half-made folder and says what
# to install.
$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || { \
	  echo "error: Python 3.10+ is required; '$(PYTHON)' is $$($(PYTHON) -V 2>/dev/null || echo missing)." \
	       "Use: make PYTHON=python3.X ..." >&2; exit 1; }
	@echo "creating virtualenv $(VENV) with $$($(PYTHON) -V 2>&1)"
	@out="$$($(PYTHON) -m venv --without-pip $(VENV) 2>&1 && \
	         { $(PYTHON) -m pip --python $(VENV_PY) --version >/dev/null 2>&1 || \
	           $(VENV_PY) -m ensurepip --default-pip 2>&1; })" || { \
	  rm -rf $(VENV); printf '%s\n' "$$out" | tail -n 3 | sed 's/^/  /' >&2; \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }

# The virtualenv's own pip once it has one, else $(PYTHON)'s (expanded when a recipe runs).
PIP = $(if $(wildcard $(VENV)/bin/pip),$(VENV_PY) -m pip,$(PYTHON) -m pip --python $(VENV_PY)) \
      --disable-pip-version-check

# (Re)install dependencies when requirements change; each stamp records its last sync.
# `make run` needs only what serving needs; the test and development tools come with the
# first target that uses them. pip stays quiet, so say what takes these seconds.
$(RUN_STAMP): requirements.txt requirements-run.txt | $(VENV_PY)
	@echo "installing the service's packages (requirements-run.txt) into $(VENV) ..."
	@$(PIP) install --quiet --no-compile -r requirements-run.txt
	@touch $@

$(STAMP): requirements-dev.txt $(RUN_STAMP)
	@echo "installing the test and development tools (requirements-dev.txt) into $(VENV) ..."
	@$(PIP) install --quiet -r requirements-dev.txt
	@# a pip of the virtualenv's own, for installing by hand (.venv/bin/pip)
	@[ -x $(VENV)/bin/pip ] || $(PIP) install --quiet pip
	@touch $@

venv: $(STAMP)

# devtools/serve.py: free port check, database, migrations, first admin token, gunicorn;
# on Ctrl-C or SIGTERM it stops gunicorn, then the embedded PostgreSQL it started.
run: bind-free $(RUN_STAMP)
	@$(VENV_PY) -m devtools.serve

# Before installing anything: say at once when GUNICORN_BIND is taken.
bind-free:
	@$(PYTHON) -m devtools.serve --check-bind

# ARGS go to flask; without DATABASE_URL it runs on the embedded PostgreSQL, as make run.
flask: $(RUN_STAMP)
	@$(VENV_PY) -m devtools.devdb run $(VENV)/bin/flask --app wsgi $(ARGS)

test: $(STAMP)
	$(VENV)/bin/pytest $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# ARGS go to tox here: ARGS="-e py312 -- -k name"
tox: $(STAMP)
	$(VENV)/bin/tox -p $(TOX_JOBS) $(ARGS)

# The benchmark's extra packages (matplotlib, py-spy) stay out of the test install.
$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PIP) install --quiet -r requirements-bench.txt
	@touch $@

# Not part of `make test`: a few minutes of load on a database of its own (BENCH_DATABASE_URL,
# else TEST_DATABASE_URL, else the embedded PostgreSQL). Options: make bench ARGS="--help".
bench: $(STAMP) $(BENCH_STAMP)
	$(VENV_PY) -m bench.bench $(ARGS)

# The server's binaries live in .venv, so stop it before .venv goes away.
devdb-stop:
	@if [ -x $(VENV_PY) ]; then $(VENV_PY) -m devtools.devdb stop; \
	else echo "no $(VENV): nothing to stop"; fi

clean: devdb-stop
	rm -rf $(VENV) .tox .pytest_cache .ruff_cache .hypothesis htmlcov .coverage .coverage.* coverage.xml
	find . -path ./.git -prune -o -path ./.devdb -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf .devdb
