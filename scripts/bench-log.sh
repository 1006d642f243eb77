#!/usr/bin/env bash
# The transparency log's costs, measured (issue 29):
#   - publishes per second with the log against the release before it
#     (built from git in the same target dir, so only Berth's own crates
#     compile twice), alternating rounds, both backends with --with-pg-s3;
#   - lookups with inclusion proofs on a 2,000,000-version registry
#     (berth-scale --log-only; its log built by the bulk path);
#   - `berth verify` of a 400-package lockfile against a release server
#     (the end-to-end test four_hundred_packages_verify_in_one_quick_run,
#     whose printed time is kept).
# Writes bench-results/<time>/log-*.json. Asserts nothing about speed.
set -euo pipefail
cd "$(dirname "$0")/.."

with_pg=0
[ "${1:-}" = "--with-pg-s3" ] && with_pg=1
out="bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

# The last commit before the log: the parent of the commit that added it.
added=$(git log --format=%H --reverse --grep '^log: every version in a per-registry transparency log' | head -1)
[ -n "$added" ] || { echo "cannot find the commit that added the log" >&2; exit 1; }
reference=target/bench-reference-berth
if [ ! -x "$reference" ] || [ "$(cat "$reference.commit" 2>/dev/null)" != "$added^" ]; then
  tree=$(mktemp -d)
  git worktree add --detach "$tree" "$added^" >/dev/null
  CARGO_TARGET_DIR="$PWD/target" cargo build --release --locked -p berth --manifest-path "$tree/Cargo.toml"
  cp target/release/berth "$reference"
  echo "$added^" > "$reference.commit"
  git worktree remove --force "$tree"
fi
cargo build --release --locked -p berth -p berth-bench

backends=sqlite
if [ "$with_pg" = 1 ]; then
  garage_dir=$(mktemp -d)
  eval "$(scripts/garage.sh start "$garage_dir")"
  trap 'scripts/garage.sh stop "$garage_dir"' EXIT
  export BERTH_TEST_PG_URL=${BERTH_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}
  backends=sqlite,postgres-s3
fi

target/release/berth-bench --publish-reference "$reference" --backends "$backends" \
  --publishes 300 --publish-concurrency 1,8 --rounds 5 --json "$out/log-publish.json" | tee "$out/log-publish.txt"
target/release/berth-scale --log-only --json "$out/log-scale.json" | tee "$out/log-scale.txt"
BERTH_TEST_BIN="$PWD/target/release/berth" cargo nextest run --release -p berth --test transparency \
  --no-capture four_hundred 2>&1 | grep "berth verify of 400 packages took" | tee "$out/log-verify.txt"
