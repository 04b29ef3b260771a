#!/usr/bin/env bash
# The web console's browser tests: playwright-core (pinned in package-lock.json, `npm ci`)
# driving Debian's chromium ($CHROMIUM, default /usr/bin/chromium), against the sluice binary
# ($SLUICE_BIN; built with cargo when unset), with kcat on the Kafka side.
#
#   interop-tests/console/run.sh
#
# JUnit goes to $INTEROP_OUT/console.xml and the screenshots of each view to
# $INTEROP_OUT/console/*.png (default interop-tests/.matrix). run-matrix.sh calls it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
export INTEROP_OUT="${INTEROP_OUT:-$REPO/interop-tests/.matrix}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
mkdir -p "$INTEROP_OUT/console"

for tool in node npm kcat "$CHROMIUM"; do
  command -v "$tool" >/dev/null || { echo "console tests need $tool" >&2; exit 2; }
done
if [ -z "${SLUICE_BIN:-}" ]; then
  (cd "$REPO" && cargo build -q -p sluice --bin sluice)
  export SLUICE_BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug/sluice"
fi

# Installed again only when the lock file or Node changed.
stamp="$(node --version) $(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$HERE/node_modules/.installed" 2>/dev/null || true)" != "$stamp" ] \
  || ! (cd "$HERE" && node -e 'require("playwright-core")') >/dev/null 2>&1; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$HERE/node_modules/.installed"
fi

cd "$HERE"
exec timeout "${INTEROP_SUITE_TIMEOUT_S:-600}" node --test --test-concurrency=1 --test-timeout=180000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$INTEROP_OUT/console.xml" \
  ./*.test.js
