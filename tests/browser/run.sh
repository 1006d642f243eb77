#!/usr/bin/env bash
# Browser tests of the web UI: headless Chromium (Debian's `chromium`)
# driven by playwright-core, against a real `berth serve` on a temporary
# data directory. Installs what is missing (chromium, the npm packages:
# playwright-core, and oidc-provider for the single sign-on test), builds
# berth, runs ui.test.mjs (the pages, password login), then sso.test.mjs
# (single sign-on against a real OpenID provider), then docs.test.mjs (docs
# uploaded from CI, opened and searched), each with its own server;
# fails when any fails.
#   UI_TEST_SCREENSHOTS=1 tests/browser/run.sh   also rewrites docs/screenshots/
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$here/node_modules/playwright-core" ] || [ ! -d "$here/node_modules/oidc-provider" ]; then
  echo "== installing playwright-core and oidc-provider"
  (cd "$here" && npm ci --no-audit --no-fund)
fi
echo "== building berth"
(cd "$root" && cargo build --locked -p berth)
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
export UI_TEST_BERTH="${UI_TEST_BERTH:-$target/debug/berth}"
export UI_TEST_REPO="$root"
status=0
echo "== browser tests"
node "$here/ui.test.mjs" || status=1
echo "== single sign-on browser tests"
node "$here/sso.test.mjs" || status=1
echo "== documentation browser tests"
node "$here/docs.test.mjs" || status=1
exit "$status"
