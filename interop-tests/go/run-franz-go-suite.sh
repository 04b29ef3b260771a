#!/usr/bin/env bash
# franz-go's own kgo integration tests against a Sluice broker: exactly the tests named in
# franz-go-allowlist.txt (one name a line, # comments); fails if any of them fails.
#
#   SLUICE_BIN=/path/to/sluice interop-tests/go/run-franz-go-suite.sh
#
# The franz-go module (the version pinned in go.mod) is downloaded into the Go module cache and
# copied to a temporary directory, where `go test ./pkg/kgo` runs with KGO_SEEDS pointing at a
# broker started here (`serve --memory` on a free loopback port). Its log goes to
# $INTEROP_LOG_DIR/broker-franz-go-suite.log, the `go test -json` events to
# $INTEROP_LOG_DIR/franz-go-suite.json (INTEROP_LOG_DIR defaults to a temporary directory).
# FINDINGS.md says why the other tests are left out.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${SLUICE_BIN:-$HERE/../../target/debug/sluice}"
TIMEOUT_S="${FRANZ_SUITE_TIMEOUT_S:-420}"
if ! command -v go >/dev/null; then
  echo "no Go toolchain (go) on PATH" >&2
  exit 2
fi
if [ ! -x "$BIN" ]; then
  echo "no broker binary at $BIN" >&2
  exit 2
fi

work="$(mktemp -d)"
LOG_DIR="${INTEROP_LOG_DIR:-$work}"
mkdir -p "$LOG_DIR"
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    rm -f "$LOG_DIR/broker-franz-go-suite.pid"
  fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

version="$(cd "$HERE" && go list -m -f '{{.Version}}' github.com/twmb/franz-go)"
src="$(cd "$HERE" && go mod download -json "github.com/twmb/franz-go@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
cp -r "$src" "$work/franz-go"
chmod -R u+w "$work/franz-go"

tests="$(grep -v -e '^#' -e '^[[:space:]]*$' "$HERE/franz-go-allowlist.txt" | paste -sd'|')"
[ -n "$tests" ] || { echo "franz-go-allowlist.txt names no test" >&2; exit 2; }

# Compile first, so the broker is not waiting through the build.
(cd "$work/franz-go/pkg/kgo" && go test -c -o "$work/kgo.test" .)

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
seeds="127.0.0.1:$port"
# The broker reads every SLUICE_<KEY> variable as a setting and refuses unknown ones.
env $(env | grep -o '^SLUICE_[A-Z_]*' | sed 's/^/-u /') NO_COLOR=1 \
  "$BIN" serve --memory --listen "$seeds" --http none >"$LOG_DIR/broker-franz-go-suite.log" 2>&1 &
broker_pid=$!
echo "$broker_pid" >"$LOG_DIR/broker-franz-go-suite.pid"
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$broker_pid" 2>/dev/null || { echo "sluice exited before accepting" >&2; exit 2; }
  sleep 0.1
done

echo "franz-go $version pkg/kgo against $seeds: $(grep -c -v -e '^#' -e '^[[:space:]]*$' "$HERE/franz-go-allowlist.txt") allow-listed tests"
set +e
(cd "$work/franz-go/pkg/kgo" && KGO_SEEDS="$seeds" KGO_TEST_RF=1 KGO_TEST_RECORDS=5000 \
  go tool test2json -t "$work/kgo.test" -test.v=test2json -test.count=1 -test.timeout "${TIMEOUT_S}s" \
  -test.run "^($tests)\$") >"$LOG_DIR/franz-go-suite.json"
rc=$?
set -e
python3 - "$LOG_DIR/franz-go-suite.json" <<'PY'
import json, sys
passed, failed, skipped = [], [], []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    t, a = e.get("Test"), e.get("Action")
    if not t or "/" in t:
        continue
    {"pass": passed, "fail": failed, "skip": skipped}.get(a, []).append(t)
for t in failed:
    print("FAIL", t)
for t in skipped:
    print("SKIP", t)
print(f"franz-go suite: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
PY
exit "$rc"
