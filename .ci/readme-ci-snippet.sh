#!/usr/bin/env bash
# Checks the README's "In CI" snippet as written (only its two addresses replaced):
#   1. free ports: it starts its broker, sees it ready, stops it, and exits 0;
#   2. its HTTP port taken by a server that answers /health/ready with 200 (another job's
#      broker): it fails within seconds, not "ready", and shows its broker's log;
#   3. its Kafka port taken by a plain listener: the same.
# Ports are ephemeral; everything is on 127.0.0.1. Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SLUICE_BIN:-}" ]; then
  BIN="$SLUICE_BIN"
else
  # A no-op when the debug binary is up to date.
  cargo build -q -p sluice --bin sluice
  BIN=target/debug/sluice
fi
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$(realpath "$BIN")" "$work/bin/sluice"

# The snippet, from the README.
awk '/^### In CI/{on=1} on&&/^```sh/{grab=1;next} grab&&/^```/{exit} grab' README.md > "$work/snippet.sh"
grep -q 'health/ready' "$work/snippet.sh" || { echo "snippet not found in README.md"; exit 1; }
grep -q '^KAFKA=.* HTTP=' "$work/snippet.sh" || { echo "the snippet's first line no longer sets KAFKA and HTTP"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
passed=0
grep -q '^# \.\.\. run the tests' "$work/snippet.sh" || { echo "the snippet has no '# ... run the tests' line"; exit 1; }
# run_snippet KAFKA_PORT HTTP_PORT: runs it in $work (its log file goes there), with its
# "run the tests" line printing SNIPPET-READY; its output in out.txt.
run_snippet() {
  sed -e "s/^KAFKA=.*/KAFKA=127.0.0.1:$1 HTTP=127.0.0.1:$2/" \
      -e "s/^# \.\.\. run the tests.*/echo SNIPPET-READY/" "$work/snippet.sh" > "$work/run.sh"
  (cd "$work" && PATH="$work/bin:$PATH" timeout 60 bash "$work/run.sh" > "$work/out.txt" 2>&1)
}
# expect_quick_failure KAFKA_PORT HTTP_PORT WHAT: the snippet fails within 10 s, says so, and
# shows the broker's own complaint (its log) about the taken port.
expect_quick_failure() {
  local started elapsed
  started=$(date +%s)
  if run_snippet "$1" "$2" || grep -q SNIPPET-READY "$work/out.txt"; then
    echo "FAIL ($3): the snippet took another server's answer for its own broker's"; cat "$work/out.txt"; exit 1
  fi
  elapsed=$(( $(date +%s) - started ))
  if [ "$elapsed" -gt 10 ]; then
    echo "FAIL ($3): the snippet took ${elapsed} s to notice its broker had exited"; exit 1
  fi
  grep -q "sluice did not start" "$work/out.txt" || { echo "FAIL ($3): no clear message"; cat "$work/out.txt"; exit 1; }
  grep -q "cannot listen on 127.0.0.1:$4" "$work/out.txt" || {
    echo "FAIL ($3): the broker's log (cannot listen on 127.0.0.1:$4) is not shown"; cat "$work/out.txt"; exit 1
  }
  passed=$((passed + 1))
}

# 1. Free ports: ready, then stopped by the snippet's own kill.
if ! run_snippet "$(free_port)" "$(free_port)"; then
  echo "FAIL: the snippet did not start a broker on free ports"; cat "$work/out.txt"; exit 1
fi
grep -q SNIPPET-READY "$work/out.txt" || { echo "FAIL: the snippet did not get to its tests"; cat "$work/out.txt"; exit 1; }
grep -q "sluice ready" "$work/sluice.log" || { echo "FAIL: no ready line in the broker's log"; cat "$work/sluice.log"; exit 1; }
passed=$((passed + 1))

# 2. The HTTP port is taken by a server that answers /health/ready with 200.
taken="$(free_port)"
python3 -c '
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
' "$taken" &
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$taken/health/ready" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$taken/health/ready" >/dev/null || { echo "the stand-in server did not start"; exit 1; }
expect_quick_failure "$(free_port)" "$taken" "HTTP port taken" "$taken (--http)"

# 3. The Kafka port is taken by a plain listener.
taken="$(free_port)"
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("listening", flush=True)
time.sleep(120)
' "$taken" > "$work/listener.txt" &
for _ in $(seq 50); do grep -q listening "$work/listener.txt" && break; sleep 0.1; done
grep -q listening "$work/listener.txt" || { echo "the stand-in listener did not start"; exit 1; }
expect_quick_failure "$taken" "$(free_port)" "Kafka port taken" "$taken (--listen)"

echo "README CI snippet: $passed passed, 0 failed"
