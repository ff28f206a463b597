#!/usr/bin/env bash
# The real-browser test of the hub (issue 4): headless Debian chromium driven by npm
# playwright-core opens an EventSource on the hub, receives events, is disconnected by the hub,
# resumes with Last-Event-ID, and sees itself on the admin page.
#
# Installs what it needs: Debian's `chromium` (apt-get), and playwright-core from
# crates/tidings-server/tests/browser/package-lock.json (`npm ci`). playwright-core never
# downloads a browser; the test points it at /usr/bin/chromium. Node.js 20 or later must be
# on the machine (playwright-core's requirement).
#
#   bash .ci/browser.sh           # from anywhere in the repository
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive

step "browser test: chromium"
if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version

step "browser test: node and playwright-core"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "node $(node --version) is too old: playwright-core needs Node.js 20 or later" >&2
  exit 1
fi
echo "node $(node --version), npm $(npm --version)"
(cd crates/tidings-server/tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)

step "browser test: run"
CHROMIUM=/usr/bin/chromium cargo test -p tidings-server --all-features --test ops_browser -- --ignored --nocapture
