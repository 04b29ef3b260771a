#!/usr/bin/env bash
# The client interop matrix: independent Kafka clients against a Sluice broker binary.
#
#   interop-tests/run-matrix.sh
#
# - Python (python/): confluent-kafka, kafka-python, aiokafka with pytest; a venv in
#   python/.venv with the pinned python/requirements.txt.
# - Node.js (node/): kafkajs and @platformatic/kafka with node's test runner; `npm ci` from
#   node/package-lock.json (skipped when node_modules was installed from the same lock file by
#   the same Node).
# - The web console (console/): playwright-core driving Debian's chromium against the broker
#   binary's /ui, kcat on the Kafka side; `npm ci` from console/package-lock.json (console/run.sh).
# - Java (java/): Apache Kafka's kafka-clients 4.4.0 with JUnit 5, a Maven project with every
#   version pinned (Maven's local repository ~/.m2 keeps them; later runs need no download);
#   `mvn test` runs every test class, Kafka's command-line tools (KafkaToolsTest), Kafka
#   Streams (StreamsTest), Spring Kafka (SpringKafkaTest) and a Kafka Connect standalone worker
#   (ConnectTest) included. Then `mvn test -Pkafka39` runs the client suites (producer,
#   consumer, group, transactions) again on kafka-clients 3.9.1, reported as `kafka-clients 3.9`.
#   Needs `java` (17+) and `mvn`; without them the Java suite counts as failed.
# - Go (go/): franz-go (kgo, kadm), Sarama (IBM/sarama), segmentio/kafka-go and confluent-kafka-go
#   (cgo, its bundled librdkafka) from the Go
#   module in go/ (go.mod, go.sum), then franz-go's own kgo tests (the allow-list in
#   go/franz-go-allowlist.txt). Without a Go toolchain the Go suites count as failed;
#   INTEROP_SKIP_GO=1 leaves them out.
#
# Each suite starts its own broker: `$SLUICE_BIN serve --memory --listen 127.0.0.1:<free port>
# --http none`. Without SLUICE_BIN the debug binary is built first (cargo build -p sluice
# --bin sluice). Results, broker logs and JUnit files go to interop-tests/.matrix/ (or
# $INTEROP_OUT). Exits non-zero if any test failed; the last line is `matrix: N passed, M failed`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
OUT="${INTEROP_OUT:-$HERE/.matrix}"
SUITE_TIMEOUT_S="${INTEROP_SUITE_TIMEOUT_S:-600}"
started=$(date +%s)

rm -rf "$OUT"
mkdir -p "$OUT"
export INTEROP_LOG_DIR="$OUT"

# Every suite stops its broker itself (and the kernel stops the Python and Go ones if their
# runner dies); a broker whose pid file is still here when we exit is stopped now.
stop_leftover_brokers() {
  local f pid
  for f in "$OUT"/broker-*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
      echo "stopping leftover broker $pid ($f)"
      kill -TERM "$pid" 2>/dev/null || true
      sleep 1
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}
trap stop_leftover_brokers EXIT

step() { printf '\n== %s\n' "$*"; }

# --- the broker ---------------------------------------------------------------------------------
if [ -z "${SLUICE_BIN:-}" ]; then
  step "broker: cargo build -p sluice --bin sluice"
  (cd "$REPO" && cargo build -q -p sluice --bin sluice)
  export SLUICE_BIN="$REPO/target/debug/sluice"
fi
if [ ! -x "$SLUICE_BIN" ]; then
  echo "no broker binary at $SLUICE_BIN" >&2
  exit 2
fi
echo "broker: $SLUICE_BIN"

suites=()
missing=()

# --- Python -------------------------------------------------------------------------------------
step "python: venv and pinned requirements"
VENV="$HERE/python/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$HERE/python/requirements.txt"

step "python: pytest (confluent-kafka, kafka-python, aiokafka)"
set +e
(cd "$HERE/python" && timeout "$SUITE_TIMEOUT_S" "$VENV/bin/python" -m pytest -p no:cacheprovider \
  --junitxml="$OUT/python.xml" .)
rc=$?
set -e
suites+=("--suite" "python:junit:$OUT/python.xml:$rc")

# --- Node.js ------------------------------------------------------------------------------------
step "node: npm ci"
NODE_DIR="$HERE/node"
# node-gyp builds the native codecs (lz4, zstd-napi) against the installed Node's headers
# instead of downloading them.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node.h ]; then
  export npm_config_nodedir=/usr
fi
lock_stamp="$(node --version) $(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)"
# Skipped only when node_modules was installed from this lock by this Node and every dependency
# (native codecs included) still loads.
deps_load() {
  (cd "$NODE_DIR" && node -e '
    for (const name of Object.keys(require("./package.json").dependencies)) require(name)
  ') >/dev/null 2>&1
}
if [ "$(cat "$NODE_DIR/node_modules/.matrix-installed" 2>/dev/null || true)" = "$lock_stamp" ] && deps_load; then
  echo "node_modules already installed from this package-lock.json"
else
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_stamp" >"$NODE_DIR/node_modules/.matrix-installed"
fi

step "node: node --test (kafkajs, @platformatic/kafka)"
set +e
(cd "$NODE_DIR" && timeout "$SUITE_TIMEOUT_S" node --test --test-timeout=120000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=junit --test-reporter-destination="$OUT/node.xml" \
  ./*.test.js)
rc=$?
set -e
suites+=("--suite" "node:junit:$OUT/node.xml:$rc")

# --- the web console (playwright-core and Debian's chromium; console/run.sh) --------------------
if ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
  step "web console: no chromium"
  missing+=("--missing" "web console:needs chromium (Debian: chromium)")
else
  step "web console: browser tests (console/run.sh)"
  set +e
  SLUICE_BIN="$SLUICE_BIN" INTEROP_OUT="$OUT" CHROMIUM="$(command -v "${CHROMIUM:-chromium}")" \
    bash "$HERE/console/run.sh"
  rc=$?
  set -e
  suites+=("--suite" "web console:junit:$OUT/console.xml:$rc")
fi

# --- Java (kafka-clients) -----------------------------------------------------------------------
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  step "java: not installed"
  missing+=("--missing" "kafka-clients:needs java (17+) and mvn (Debian: openjdk-17-jdk-headless, maven)")
  missing+=("--missing" "kafka-clients 3.9:needs java (17+) and mvn (Debian: openjdk-17-jdk-headless, maven)")
else
  step "java: mvn test (kafka-clients 4.4.0, JUnit 5)"
  # Surefire writes one TEST-<class>.xml per test class; matrix_report.py reads the directory.
  mkdir -p "$OUT/java"
  set +e
  (cd "$HERE/java" && timeout "$SUITE_TIMEOUT_S" mvn -B -q -ntp test \
    -Dsluice.bin="$SLUICE_BIN" -Dinterop.reports="$OUT/java")
  rc=$?
  set -e
  suites+=("--suite" "kafka-clients:junit:$OUT/java:$rc")

  # The same client suites on the last 3.x client (the pom's kafka39 profile: ProducerTest,
  # ConsumerTest, GroupTest, TransactionTest, built in java/target-kafka39).
  step "java: mvn test -Pkafka39 (kafka-clients 3.9.1, JUnit 5)"
  mkdir -p "$OUT/java39"
  set +e
  (cd "$HERE/java" && timeout "$SUITE_TIMEOUT_S" mvn -B -q -ntp test -Pkafka39 \
    -Dsluice.bin="$SLUICE_BIN" -Dinterop.reports="$OUT/java39")
  rc=$?
  set -e
  suites+=("--suite" "kafka-clients 3.9:junit:$OUT/java39:$rc")
fi

# --- Go (franz-go, Sarama, kafka-go, confluent-kafka-go: a Go module, go/go.mod) ---------------
# Each client is one `go test -json -run '^Test<Client>'` of the module (its own broker), then
# franz-go's own kgo tests (go/run-franz-go-suite.sh, the allow-list in go/franz-go-allowlist.txt).
# The modules come through GOPROXY (its default, proxy.golang.org) and are checked against the
# committed go.sum. Without a Go toolchain every Go suite counts as failed.
# name:test prefix:module
go_suites=("franz-go:Franz:github.com/twmb/franz-go" "Sarama:Sarama:github.com/IBM/sarama"
  "kafka-go:KafkaGo:github.com/segmentio/kafka-go"
  "confluent-kafka-go:Confluent:github.com/confluentinc/confluent-kafka-go/v2")
go_events() {
  python3 -c '
import json, sys
for line in sys.stdin:
    try:
        event = json.loads(line)
    except ValueError:
        print(line, end="")
        continue
    if event.get("Action") == "output":
        print(event["Output"], end="", flush=True)
'
}
if [ "${INTEROP_SKIP_GO:-0}" = 1 ]; then
  step "go: skipped (INTEROP_SKIP_GO=1)"
elif ! command -v go >/dev/null; then
  step "go: no Go toolchain"
  for s in "${go_suites[@]}" "franz-go suite:"; do
    missing+=("--missing" "${s%%:*}:needs a Go toolchain (go) on PATH")
  done
else
  step "go: go mod download, build ($(go version | cut -d' ' -f3))"
  # A failure here shows again, as a failed suite, in the go test runs below.
  (cd "$HERE/go" && go mod download && go test -count=1 -run '^$' . >/dev/null) 2>&1 | tail -20 || true
  for s in "${go_suites[@]}"; do
    IFS=: read -r name prefix module <<<"$s"
    file="$OUT/go-$prefix.json"
    step "go: go test ($name $(cd "$HERE/go" && go list -m -f '{{.Version}}' "$module" 2>/dev/null || echo '?'))"
    set +e
    (cd "$HERE/go" && INTEROP_GO_SUITE="$prefix" timeout "$SUITE_TIMEOUT_S" go test -count=1 -json \
      -timeout "${SUITE_TIMEOUT_S}s" -run "^Test$prefix" . 2>"$OUT/go-$prefix-build.log" | tee "$file" | go_events)
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" = 0 ] || cat "$OUT/go-$prefix-build.log"
    suites+=("--suite" "$name:gojson:$file:$rc")
  done

  step "go: franz-go's own kgo tests (go/franz-go-allowlist.txt)"
  set +e
  timeout "$SUITE_TIMEOUT_S" bash "$HERE/go/run-franz-go-suite.sh"
  rc=$?
  set -e
  suites+=("--suite" "franz-go suite:gojson:$OUT/franz-go-suite.json:$rc")
fi

# --- summary ------------------------------------------------------------------------------------
echo
echo "broker logs: $OUT/broker-*.log; elapsed: $(($(date +%s) - started)) s"
set +e
python3 "$HERE/matrix_report.py" "${suites[@]}" "${missing[@]}"
rc=$?
set -e
exit "$rc"
