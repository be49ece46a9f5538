#!/usr/bin/env bash
# Runs every test of the observatory: the Rust suites of the whole workspace (on SQLite and on
# PostgreSQL) and the end-to-end suite, in which an independent Python gRPC client drives the
# built `observatory` binary.
#
# Needs: cargo; python3 (3.10+) with venv; a PostgreSQL server the tests can create databases on,
# named by TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); for the database
# outage test (services/observatory/tests/outage.rs), the PostgreSQL server binaries and
# postgresql-common's pg_createcluster/pg_ctlcluster, run as root or a user who may create clusters.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv="${SSE_TEST_VENV:-.venv}"

echo "== Rust tests (cargo test --workspace)"
cargo build --workspace --bins --locked
cargo test --workspace --no-fail-fast --locked

echo "== End-to-end tests (Python gRPC client against target/debug/observatory)"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
OBSERVATORY_BIN="${OBSERVATORY_BIN:-$PWD/target/debug/observatory}" "$venv/bin/python" -m pytest tests/e2e -q
