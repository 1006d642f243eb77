#!/usr/bin/env bash
# Performance harness, one run: Berth against nginx (the reference static
# server) under wrk on the same files at 1, 32 and 256 connections, pinned
# (each server alone on core 0, wrk on core 1: CPU per request, the
# headline) and unpinned; user-space instructions per request (callgrind),
# publishes at several concurrencies, memory; `cargo generate-lockfile` and
# `cargo fetch` of a 300-crate closure from Berth and from nginx serving the
# same files; then the scale run (a synthetic registry shaped like the public
# one: index files, search, publishes, memory) against a 100-crate registry.
# Prints tables and writes JSON under bench-results/ so that runs can be
# compared.
#
#   scripts/bench.sh                 # SQLite + files
#   scripts/bench.sh --with-pg-s3    # also PostgreSQL + S3 (Garage on loopback)
#   SCALE_CRATES=20000 SCALE_VERSIONS=200000 scripts/bench.sh   # a smaller scale run
#   scripts/bench.sh --search-only [--with-pg-s3]  # only the scale run's search
#                                  # latency by kind of query (1 and 8 clients)
set -euo pipefail
cd "$(dirname "$0")/.."

backends=sqlite
search_only=
for arg in "$@"; do
  case $arg in
    --with-pg-s3) backends=sqlite,postgres-s3 ;;
    --search-only) search_only=--search-only ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
SCALE_CRATES=${SCALE_CRATES:-200000}
SCALE_VERSIONS=${SCALE_VERSIONS:-2000000}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk || ! need valgrind || ! need taskset; then
  echo "== installing nginx-light, wrk, valgrind and util-linux (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk valgrind util-linux
fi

echo "== building (release)"
cargo build --release --locked -p berth -p berth-bench

out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

if [[ $backends == *postgres-s3* ]]; then
  GARAGE_DIR=$(mktemp -d /tmp/berth-bench-garage.XXXXXX)
  trap 'scripts/garage.sh stop "$GARAGE_DIR"; rm -rf "$GARAGE_DIR"' EXIT
  eval "$(scripts/garage.sh start "$GARAGE_DIR")"
fi

if [ -z "$search_only" ]; then
  echo "== hot paths against nginx, pinned: each server alone on core 0, wrk on core 1 ($backends)"
  ./target/release/berth-bench --pin 0,1 --backends "$backends" --json "$out/hot-pinned.json" | tee "$out/hot-pinned.txt"

  echo "== hot paths against nginx, unpinned (all share both cores), publishes, memory ($backends)"
  ./target/release/berth-bench --backends "$backends" --json "$out/hot.json" | tee "$out/hot.txt"

  echo "== user-space instructions per request on the hot paths (callgrind), against nginx"
  ./target/release/berth-bench --instructions 4 | tee "$out/instructions.txt"

  echo "== hot index through a registry with a supply-chain policy and 1,200 advisories, against none"
  ./target/release/berth-bench --policy 1200 --json "$out/policy.json" | tee "$out/policy.txt"

  echo "== what cargo feels: generate-lockfile and fetch of a 300-crate closure, against nginx (pinned)"
  ./target/release/berth-cargo --pin 0,1 --json "$out/cargo-pinned.json" | tee "$out/cargo-pinned.txt"
  echo "== the same, unpinned"
  ./target/release/berth-cargo --json "$out/cargo.json" | tee "$out/cargo.txt"
fi

if [[ $backends == *postgres-s3* ]]; then
  echo "== hot index: SQLite single node against PostgreSQL with three nodes"
  ./target/release/berth-bench --index-nodes 3 --json "$out/index-nodes.json" | tee "$out/index-nodes.txt"
fi

for b in ${backends//,/ }; do
  echo "== scale: $SCALE_CRATES crates / $SCALE_VERSIONS versions on $b, against 100 crates"
  ./target/release/berth-scale --backend "$b" --crates "$SCALE_CRATES" --versions "$SCALE_VERSIONS" \
    $search_only --json "$out/scale-$b.json" | tee "$out/scale-$b.txt"
done
echo "results in $out"
