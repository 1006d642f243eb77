#!/usr/bin/env bash
# Registry kinds against each other, in one run on one machine: the same
# index file and .crate served by a hosted registry, through a proxy of it
# (another Berth on loopback as the upstream), and through a virtual
# registry, under wrk; and `cargo fetch` of a project through the proxy
# (cold and warm) against the same fetch straight from the upstream.
# Prints requests per second and the ratios. Measures only; asserts nothing.
#
#   scripts/bench-kinds.sh            # needs target/release/berth (built here)
#   WRK_SECONDS=10 WRK_CONNECTIONS=64 scripts/bench-kinds.sh
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${WRK_SECONDS:-5}
conns=${WRK_CONNECTIONS:-32}
need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  echo "== installing wrk (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
if [ -z "${SKIP_BUILD:-}" ]; then
  echo "== building (release)"
  cargo build --release --locked -p berth
fi
berth=$PWD/target/release/berth

work=$(mktemp -d /tmp/berth-kinds.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# start NAME CONFIG: starts a server, sets $url
start() {
  local name=$1 config=$2
  mkdir -p "$work/$name"
  printf '%s' "$config" > "$work/$name/berth.toml"
  "$berth" --data-dir "$work/$name" --config "$work/$name/berth.toml" serve --listen 127.0.0.1:0 \
    > "$work/$name/out" 2> "$work/$name/log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    url=$(sed -n 's/^Berth is listening on //p' "$work/$name/out" | head -1)
    [ -n "$url" ] && curl -sf "$url/ready" >/dev/null && return 0
    sleep 0.1
  done
  echo "server $name did not start" >&2; cat "$work/$name/log" >&2; exit 1
}

start upstream ""
up=$url
"$berth" --data-dir "$work/upstream" --config "$work/upstream/berth.toml" user add bench >/dev/null
token=$("$berth" --data-dir "$work/upstream" --config "$work/upstream/berth.toml" token create --user bench 2>/dev/null | tail -1)

# A project with a few dozen crates, published to the upstream in order.
home=$work/cargo-home
mkdir -p "$home"
cat > "$home/config.toml" <<TOML
[registries.main]
index = "sparse+$up/r/main/index/"
credential-provider = ["cargo:token"]
TOML
n=${BENCH_CRATES:-40}
for i in $(seq 1 "$n"); do
  d=$work/src/c$i
  mkdir -p "$d/src"
  deps=""
  [ "$i" -gt 1 ] && deps="c$((i - 1)) = { version = \"1\", registry = \"main\" }"
  printf '[package]\nname = "c%s"\nversion = "1.0.0"\nedition = "2021"\nlicense = "MIT"\ndescription = "bench"\n[dependencies]\n%s\n' "$i" "$deps" > "$d/Cargo.toml"
  printf 'pub const X: [u8; 4096] = [7; 4096];\n' > "$d/src/lib.rs"
  (cd "$d" && CARGO_HOME=$home CARGO_REGISTRIES_MAIN_TOKEN=$token cargo publish -q --registry main --no-verify --allow-dirty 2>/dev/null)
done

start company "
[[registries]]
name = \"main\"
[[registries]]
name = \"public\"
kind = \"proxy\"
upstream = \"sparse+$up/r/main/index/\"
[[registries]]
name = \"company\"
kind = \"virtual\"
members = [\"main\", \"public\"]
"
company=$url

# cargo fetch of the whole chain: straight from the upstream, then through
# the proxy cold (empty cache) and warm, each with an empty cargo cache.
fetch() { # URL LABEL
  local h=$work/fetch-home-$2 p=$work/fetch-proj-$2
  rm -rf "$h" "$p"; mkdir -p "$h" "$p/src"
  printf '[source.crates-io]\nreplace-with = "x"\n[source.x]\nregistry = "sparse+%s"\n' "$1" > "$h/config.toml"
  printf '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\nc%s = "1"\n' "$n" > "$p/Cargo.toml"
  echo 'fn main() {}' > "$p/src/main.rs"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$p" && CARGO_HOME=$h cargo fetch -q)
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
direct=$(fetch "$up/r/main/index/" direct)
cold=$(fetch "$company/r/public/index/" cold)
warm=$(fetch "$company/r/public/index/" warm)

rps() { wrk -t2 -c"$conns" -d"${secs}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
idx="/index/2/c1"
hosted_idx=$(rps "$company/r/main$idx")
proxy_idx=$(rps "$company/r/public$idx")
virtual_idx=$(rps "$company/r/company$idx")
hosted_dl=$(rps "$company/r/main/api/v1/crates/c1/1.0.0/download")
proxy_dl=$(rps "$company/r/public/api/v1/crates/c1/1.0.0/download")
virtual_dl=$(rps "$company/r/company/api/v1/crates/c1/1.0.0/download")

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '\n%-40s %12s %8s\n' "measurement" "value" "ratio"
printf '%-40s %12.0f %8s\n' "hot index, hosted (rps)" "$hosted_idx" "1.00"
printf '%-40s %12.0f %8s\n' "hot index, proxied (rps)" "$proxy_idx" "$(ratio "$proxy_idx" "$hosted_idx")"
printf '%-40s %12.0f %8s\n' "hot index, virtual (rps)" "$virtual_idx" "$(ratio "$virtual_idx" "$hosted_idx")"
printf '%-40s %12.0f %8s\n' "download, hosted (rps)" "$hosted_dl" "1.00"
printf '%-40s %12.0f %8s\n' "download, proxied cached (rps)" "$proxy_dl" "$(ratio "$proxy_dl" "$hosted_dl")"
printf '%-40s %12.0f %8s\n' "download, virtual (rps)" "$virtual_dl" "$(ratio "$virtual_dl" "$hosted_dl")"
printf '%-40s %12.2f %8s\n' "cargo fetch $n crates, direct (s)" "$direct" "1.00"
printf '%-40s %12.2f %8s\n' "cargo fetch, through proxy cold (s)" "$cold" "$(ratio "$cold" "$direct")"
printf '%-40s %12.2f %8s\n' "cargo fetch, through proxy warm (s)" "$warm" "$(ratio "$warm" "$direct")"
echo "(wrk: 2 threads, $conns connections, ${secs}s each; ratio = value / reference)"
