#!/usr/bin/env bash
# Starts a one-node Garage (an S3-compatible object store) on loopback for
# the test suite and prints the environment that points Berth at it:
#
#   eval "$(scripts/garage.sh start DIR)"   # exports AWS_* and BERTH_TEST_S3_BUCKET
#   scripts/garage.sh stop DIR
#
# Installs Garage from its crate when it is missing (about 15 minutes).
set -euo pipefail

GARAGE_VERSION=2.5.0
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

# Three free loopback ports, chosen by the kernel, so that several runs (or a
# leftover Garage) never collide.
free_ports() {
  python3 - <<'PY'
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}
KEY_ID=GK0123456789abcdef01234567
SECRET=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
BUCKET=berth-test

garage_bin() {
  if command -v garage >/dev/null 2>&1; then command -v garage; return; fi
  if [ -x "$HOME/.cargo/bin/garage" ]; then echo "$HOME/.cargo/bin/garage"; return; fi
  echo "garage is not installed: building it from its crate (about 15 minutes)" >&2
  cargo install garage --locked --version "$GARAGE_VERSION" >&2
  echo "$HOME/.cargo/bin/garage"
}

case "$cmd" in
  start)
    GARAGE=$(garage_bin)
    read -r S3_PORT RPC_PORT ADMIN_PORT < <(free_ports)
    mkdir -p "$dir/meta" "$dir/data"
    cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$ADMIN_PORT"
TOML
    g() { "$GARAGE" -c "$dir/garage.toml" "$@"; }
    RUST_LOG=warn nohup "$GARAGE" -c "$dir/garage.toml" server > "$dir/garage.log" 2>&1 &
    echo $! > "$dir/garage.pid"
    pid=$(cat "$dir/garage.pid")
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      if g status >/dev/null 2>&1; then break; fi
      sleep 0.2
    done
    if ! kill -0 "$pid" 2>/dev/null || ! g status >/dev/null 2>&1; then
      echo "garage did not start; its log:" >&2
      cat "$dir/garage.log" >&2
      exit 1
    fi
    node=$(g node id -q 2>/dev/null | cut -d@ -f1)
    g layout assign -z dc1 -c 1G "$node" >/dev/null
    g layout apply --version 1 >/dev/null
    g key import --yes -n berth-test "$KEY_ID" "$SECRET" >/dev/null
    g bucket create "$BUCKET" >/dev/null
    g bucket allow --read --write --owner "$BUCKET" --key berth-test >/dev/null
    echo "export AWS_ENDPOINT=http://127.0.0.1:$S3_PORT"
    echo "export AWS_REGION=garage"
    echo "export AWS_ACCESS_KEY_ID=$KEY_ID"
    echo "export AWS_SECRET_ACCESS_KEY=$SECRET"
    echo "export BERTH_TEST_S3_BUCKET=$BUCKET"
    # Keep the S3 client from ever asking a cloud metadata service.
    echo "export AWS_METADATA_ENDPOINT=http://127.0.0.1:9"
    ;;
  stop)
    if [ -f "$dir/garage.pid" ]; then
      kill "$(cat "$dir/garage.pid")" 2>/dev/null || true
      rm -f "$dir/garage.pid"
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
