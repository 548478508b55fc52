#!/usr/bin/env bash
# Fuzz the live service against its own OpenAPI document with schemathesis: a throwaway
# database, a real gunicorn on a free port, every operation, a bounded number of examples,
# stateful runs along the document's links. Fails on any server error, any answer the
# document does not describe, and any check in .ci/schemathesis.toml that fails.
#
#   TEST_DATABASE_URL  PostgreSQL superuser URL (required; .ci/run sets it)
#   FUZZ_EXAMPLES      examples per operation and phase (default 25)
#   FUZZ_SEED          generation seed (default 1: CI runs are reproducible)
#   FUZZ_TIMEOUT       seconds before the run is stopped as failed (default 600)
#   FUZZ_ARGS          more `schemathesis run` options (e.g. "--report har")
#
# The service runs with AUTH_ENABLED=true, as in production: an admin token made with
# `flask tokens create` goes with every request (.ci/schemathesis.toml), and schemathesis
# checks that requests without it are refused.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL to a PostgreSQL superuser URL}"
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
examples="${FUZZ_EXAMPLES:-25}"
seed="${FUZZ_SEED:-1}"
work="$(mktemp -d)"
database_url=
gunicorn_pid=

# `database create` makes a throwaway database and prints its URL; `database drop URL` drops it.
database() {
    "$PY" - "$TEST_DATABASE_URL" "$@" <<'PYTHON'
import sys, uuid
import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

admin, action = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(admin)
conn.autocommit = True
with conn.cursor() as cur:
    if action == "create":
        name = f"cs_fuzz_{uuid.uuid4().hex[:12]}"
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(make_dsn(admin, dbname=name))
    else:
        name = parse_dsn(sys.argv[3])["dbname"]
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
conn.close()
PYTHON
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    if [ -n "$gunicorn_pid" ] && kill -TERM "$gunicorn_pid" 2>/dev/null; then
        wait "$gunicorn_pid" 2>/dev/null || true
    fi
    if [ -n "$database_url" ]; then database drop "$database_url" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

database_url="$(database create)"
# The fuzzer sends thousands of requests without a token from one address: past the default
# 20 a window they would rightly get 429, which its checks take for a missing 401.
export DATABASE_URL="$database_url" AUTH_ENABLED=true LOG_LEVEL=warning AUTH_FAILURES_ALLOWED=1000000
"$VENV/bin/flask" --app wsgi migrate >/dev/null
FUZZ_TOKEN="$("$VENV/bin/flask" --app wsgi tokens create schemathesis --role admin | tail -n 1)"
export FUZZ_TOKEN  # .ci/schemathesis.toml sends it

port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir "$work/metrics"
GUNICORN_BIND="127.0.0.1:$port" GUNICORN_WORKERS=2 GUNICORN_THREADS=32 \
    PROMETHEUS_MULTIPROC_DIR="$work/metrics" \
    "$VENV/bin/gunicorn" -c gunicorn.conf.py --no-control-socket wsgi:app >"$work/gunicorn.log" 2>&1 &
gunicorn_pid=$!

echo "schemathesis: gunicorn pid $gunicorn_pid on port $port, $examples examples, seed $seed"
status=0
# shellcheck disable=SC2086  # FUZZ_ARGS is a list of options: split it
SCHEMATHESIS_HOOKS=.ci/schemathesis_hooks.py timeout "${FUZZ_TIMEOUT:-600}" "$VENV/bin/schemathesis" \
    --config-file .ci/schemathesis.toml run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --wait-for-schema 30 --checks all \
    --max-examples "$examples" --seed "$seed" --workers 1 ${FUZZ_ARGS:-} || status=$?
if [ "$status" -ne 0 ]; then
    echo "---- gunicorn log (last 40 lines)"
    tail -n 40 "$work/gunicorn.log"
fi
exit "$status"
