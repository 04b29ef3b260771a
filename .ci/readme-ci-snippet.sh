#!/usr/bin/env bash
# Checks the README's "In CI" snippet as written (only its "run the tests" line replaced):
#   1. it starts its broker on ports the broker picks, reaches its tests with that broker's
#      addresses (checked: /health/ready answers and Metadata names the declared topic), stops
#      it and exits 0;
#   2. a broker that cannot start (a bad setting in the environment): it fails within seconds,
#      not "ready", and shows the broker's log;
#   3. the same with a ready file of an earlier run left in its directory: the stale file is
#      not taken for this broker's.
# Everything is on 127.0.0.1. Needs curl and kcat.
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
grep -q -- '--ready-file sluice.ready' "$work/snippet.sh" || { echo "snippet (with --ready-file sluice.ready) not found in README.md"; exit 1; }
grep -q '^# \.\.\. run the tests' "$work/snippet.sh" || { echo "the snippet has no '# ... run the tests' line"; exit 1; }
passed=0
# run_snippet [ENV=VALUE...]: runs it in $work (its log and ready file go there) with its
# "run the tests" line printing SNIPPET-READY and the addresses; its output in out.txt.
run_snippet() {
  sed -e 's/^# \.\.\. run the tests.*/echo "SNIPPET-READY $KAFKA $HTTP"/' "$work/snippet.sh" > "$work/run.sh"
  (cd "$work" && env PATH="$work/bin:$PATH" "$@" timeout 60 bash "$work/run.sh" > "$work/out.txt" 2>&1)
}
# expect_quick_failure WHAT [ENV=VALUE...]: the snippet fails within 10 s, says so, and shows
# the broker's own complaint (its log).
expect_quick_failure() {
  local what=$1 started elapsed
  shift
  started=$(date +%s)
  if run_snippet "$@" || grep -q SNIPPET-READY "$work/out.txt"; then
    echo "FAIL ($what): the snippet went on to its tests without a broker"; cat "$work/out.txt"; exit 1
  fi
  elapsed=$(( $(date +%s) - started ))
  if [ "$elapsed" -gt 10 ]; then
    echo "FAIL ($what): the snippet took ${elapsed} s to notice its broker had exited"; exit 1
  fi
  grep -q "sluice did not start" "$work/out.txt" || { echo "FAIL ($what): no clear message"; cat "$work/out.txt"; exit 1; }
  grep -q 'invalid config `num_partitions`' "$work/out.txt" || {
    echo "FAIL ($what): the broker's log (invalid config) is not shown"; cat "$work/out.txt"; exit 1
  }
  passed=$((passed + 1))
}

# 1. Ready: the addresses are its own broker's.
if ! run_snippet; then
  echo "FAIL: the snippet did not start a broker"; cat "$work/out.txt"; exit 1
fi
read -r _ kafka http < <(grep SNIPPET-READY "$work/out.txt") || { echo "FAIL: the snippet did not get to its tests"; cat "$work/out.txt"; exit 1; }
case "$kafka" in 127.0.0.1:[1-9]*) ;; *) echo "FAIL: KAFKA is not an address: '$kafka'"; exit 1 ;; esac
case "$http" in 127.0.0.1:[1-9]*) ;; *) echo "FAIL: HTTP is not an address: '$http'"; exit 1 ;; esac
grep -q "sluice ready" "$work/sluice.log" || { echo "FAIL: no ready line in the broker's log"; cat "$work/sluice.log"; exit 1; }
[ ! -e "$work/sluice.ready" ] || { echo "FAIL: the ready file outlived the broker's clean stop"; exit 1; }
passed=$((passed + 1))

# The same, with the broker alive while the tests run: its addresses answer.
sed -e 's/^# \.\.\. run the tests.*/curl -fs "http:\/\/$HTTP\/health\/ready" > health.txt; kcat -b "$KAFKA" -L > metadata.txt/' \
  "$work/snippet.sh" > "$work/run.sh"
(cd "$work" && PATH="$work/bin:$PATH" timeout 60 bash "$work/run.sh" > "$work/out.txt" 2>&1) || {
  echo "FAIL: the snippet's tests could not reach its broker"; cat "$work/out.txt"; exit 1; }
grep -q ready "$work/health.txt" || { echo "FAIL: /health/ready did not answer ready"; exit 1; }
grep -q 'topic "orders" with 3 partitions' "$work/metadata.txt" || {
  echo "FAIL: Metadata does not name the declared topic"; cat "$work/metadata.txt"; exit 1; }
passed=$((passed + 1))

# 2. A broker that cannot start.
expect_quick_failure "bad setting" SLUICE_NUM_PARTITIONS=0

# 3. The same, with a stale ready file of an earlier run beside it.
printf '{"sluice":"ready","kafka":"127.0.0.1:1","http":"127.0.0.1:1"}\n' > "$work/sluice.ready"
expect_quick_failure "stale ready file" SLUICE_NUM_PARTITIONS=0

echo "README CI snippet: $passed passed, 0 failed"
