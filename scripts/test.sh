#!/usr/bin/env bash
# The whole test suite, on both backend pairs:
#   1. SQLite + local directory (the embedded defaults): every test;
#   2. PostgreSQL + S3 (Garage on loopback): the integration tests again.
# Needs PostgreSQL on 127.0.0.1:5432 (or BERTH_TEST_PG_URL); starts it with
# pg_ctlcluster when it is installed but stopped. Starts Garage itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# Command-line tools some tests drive: sqlite3 (fsck edits a store by hand),
# openssl (the TLS test makes its certificates) and curl (the h2c tests).
missing=()
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# bubblewrap: the docs builds' sandbox (berth-docs's tests build in it).
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PG_URL=${BERTH_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
export BERTH_TEST_PG_URL=$PG_URL

pg_up() { psql "$PG_URL/postgres" -qAtc 'select 1' >/dev/null 2>&1; }
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "== starting PostgreSQL"
    for v in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
  fi
fi
if ! pg_up; then
  echo "error: PostgreSQL is not reachable at $PG_URL; the PostgreSQL + S3 tests cannot run" >&2
  exit 1
fi

GARAGE_DIR=$(mktemp -d /tmp/berth-garage.XXXXXX)
cleanup() { scripts/garage.sh stop "$GARAGE_DIR" || true; rm -rf "$GARAGE_DIR"; }
trap cleanup EXIT
echo "== starting Garage (S3) in $GARAGE_DIR"
eval "$(scripts/garage.sh start "$GARAGE_DIR")"

# cargo-nextest runs every test in its own process, as many at once as
# cargo test runs within one binary, but across all the binaries instead of
# one binary after another (the suite waited on each binary's slowest test).
# Without it, cargo test runs the same tests.
if cargo nextest --version >/dev/null 2>&1; then
  run_tests() { cargo nextest run --locked --no-fail-fast "$@"; }
else
  echo "(cargo-nextest is not installed: running the tests with cargo test)"
  run_tests() { cargo test --locked --no-fail-fast "$@"; }
fi

echo "== tests on SQLite + local directory"
run_tests --workspace
cargo test --workspace --locked --doc

echo "== web UI in headless Chromium"
tests/browser/run.sh

echo "== integration tests on PostgreSQL + S3"
BERTH_TEST_BACKEND=postgres-s3 run_tests -p berth --tests
