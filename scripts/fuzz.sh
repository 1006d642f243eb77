#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed time each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 30)
#
# Environment:
#   FUZZ_TARGETS="a b"   only these targets (default: all, `cargo fuzz list`)
#   FUZZ_SANITIZER=none  sanitizer for the build (default: address)
#   CARGO_BUILD_JOBS=N   build parallelism (cargo's own variable)
#
# Each target starts from a temporary copy of fuzz/corpus/<target>, so the
# committed corpus never changes; every committed input is run first, so the
# corpus doubles as a regression suite. A crashing input is written to
# fuzz/artifacts/<target>/ (git-ignored). Exits non-zero if the build fails
# or any target crashes, times out or runs out of memory.
#
# Stable Rust is enough: cargo-fuzz's nightly flags are accepted with
# RUSTC_BOOTSTRAP=1.
set -euo pipefail

secs="${1:-30}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
root="$(pwd)"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

echo "== building fuzz targets (sanitizer: $sanitizer)"
build_start=$(date +%s)
cargo fuzz build --sanitizer "$sanitizer"
echo "== build took $(($(date +%s) - build_start)) s"

work="$(mktemp -d "${TMPDIR:-/tmp}/berth-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for t in $targets; do
    corpus="$work/corpus-$t"
    log="$work/$t.log"
    mkdir -p "$corpus" "$root/fuzz/artifacts/$t"
    if [ -d "fuzz/corpus/$t" ]; then
        cp -R "fuzz/corpus/$t/." "$corpus/"
    fi
    seeds=$(find "$corpus" -type f | wc -l)
    echo "== fuzz $t for ${secs}s from $seeds committed inputs"
    start=$(date +%s)
    status=0
    # -timeout: one input taking this long is a hang (a failure).
    cargo fuzz run --sanitizer "$sanitizer" "$t" "$corpus" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))

    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
    [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n1)
    [ -n "$execs" ] || execs=0
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n1 || true)
    echo "${done_line:-  (no DONE line)}"
    # libFuzzer's corpus size at the end (files on disk as a fallback).
    entries=$(printf '%s\n' "$done_line" | sed -n 's/.*corp: *\([0-9]*\).*/\1/p')
    [ -n "$entries" ] || entries=$(find "$corpus" -type f | wc -l)

    if [ "$status" -eq 0 ]; then
        line="fuzz $t: $execs execs in $elapsed s, corpus $entries, no crashes"
    else
        failed+=("$t")
        line="fuzz $t: $execs execs in $elapsed s, corpus $entries, FAILED (exit $status)"
        echo "---- last lines of the $t log:"
        tail -n 80 "$log"
        echo "----"
        echo "---- cause:"
        grep -E -A3 'panicked at|^==[0-9]+==ERROR|^SUMMARY:|ERROR: libFuzzer' "$log" | head -n 40 || true
        grep -E 'Test unit written to|^Base64:' "$log" || true
        # Keep the whole log next to the artifact.
        cp "$log" "$root/fuzz/artifacts/$t/fuzz-$(date +%Y%m%d-%H%M%S).log"
    fi
    echo "$line"
    summary+=("$line")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: failed targets: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
