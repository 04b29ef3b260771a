#!/usr/bin/env bash
# Checks the README's "In CI" snippet as written: it must succeed against a broker it
# started, and fail (quickly, not as "ready") when its port is taken and another server
# answers the readiness URL there. Ports are ephemeral; everything is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${SLUICE_BIN:-target/debug/sluice}"
[ -x "$BIN" ] || cargo build -q -p sluice --bin sluice
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$(realpath "$BIN")" "$work/bin/sluice"

# The snippet, from the README, with the ports and a stop instead of the tests.
awk '/^### In CI/{on=1} on&&/^```sh/{grab=1;next} grab&&/^```/{exit} grab' README.md > "$work/snippet.sh"
grep -q 'health/ready' "$work/snippet.sh" || { echo "snippet not found in README.md"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run_snippet() {
  sed -e "s/^KAFKA=.*/KAFKA=127.0.0.1:$1 HTTP=127.0.0.1:$2/" "$work/snippet.sh" > "$work/run.sh"
  PATH="$work/bin:$PATH" timeout 60 bash "$work/run.sh" > "$work/out.txt" 2>&1
}

# 1. Free ports: ready, then stopped by the snippet's own kill.
if ! run_snippet "$(free_port)" "$(free_port)"; then
  echo "FAIL: the snippet did not start a broker on free ports"; cat "$work/out.txt"; exit 1
fi

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
started=$(date +%s)
if run_snippet "$(free_port)" "$taken"; then
  echo "FAIL: the snippet took another server's answer for its own broker's"; cat "$work/out.txt"; exit 1
fi
elapsed=$(( $(date +%s) - started ))
if [ "$elapsed" -gt 10 ]; then
  echo "FAIL: the snippet took ${elapsed} s to notice its broker had exited"; exit 1
fi
grep -q "did not start" "$work/out.txt" || { echo "FAIL: no clear message"; cat "$work/out.txt"; exit 1; }
echo "README CI snippet: 2 passed, 0 failed"
