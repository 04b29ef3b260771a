#!/usr/bin/env bash
# Runs the README's "HTTP admin API" examples as written (only 127.0.0.1:9644 replaced by the
# broker's real HTTP address) against a fresh broker (`--memory`, topic orders with one
# partition), and checks what each one does, kcat on the Kafka side:
#   - the REST produce puts exactly its record in orders (kcat reads `"o-1" {"total":12}`: keys
#     and values are JSON) and the records GET returns it;
#   - the fault rule is listed; a kcat produce meanwhile is retried through it (fired 2, spent,
#     as the example's comment shows) and the DELETE removes it;
#   - the request recorder lists, and its stream sends an event per request (kcat -L);
#   - each reset empties orders (kcat then reads nothing).
# The examples run in that order (records first, so that the resets have something to empty),
# each command once; an example the script does not know, or one missing, fails. Prints
# `README HTTP examples: N passed, M failed` and exits non-zero if any failed. Needs curl, kcat
# and python3.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${SLUICE_BIN:-}" ]; then
  BIN="$SLUICE_BIN"
else
  # A no-op when the debug binary is up to date.
  cargo build -q -p sluice --bin sluice || exit 1
  BIN=target/debug/sluice
fi
work="$(mktemp -d)"
broker_pid=
trap '[ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null; rm -rf "$work"' EXIT

# The sh blocks of the section, split into commands (a command ends where bash can parse what
# came so far and the line does not continue).
commands=()
cmd=
while IFS= read -r line; do
  cmd+="${cmd:+$'\n'}$line"
  if [[ "$cmd" != *\\ ]] && bash -n -c "$cmd" 2>/dev/null; then
    [ -z "${cmd//[[:space:]]/}" ] || commands+=("$cmd")
    cmd=
  fi
done < <(awk '/^## /{on = ($0 == "## HTTP admin API"); next}
              on && /^```sh/{grab=1; next} grab && /^```/{grab=0; next} on && grab' README.md)
[ -z "$cmd" ] || { echo "README.md: an unfinished command in the HTTP admin API examples: $cmd"; exit 1; }
[ ${#commands[@]} -gt 0 ] || { echo "README.md: no sh examples in \"## HTTP admin API\""; exit 1; }

# The broker (without our SLUICE_* variables: it takes every SLUICE_<KEY> for a setting).
(unset "${!SLUICE_@}"; exec "$BIN" serve --memory --listen 127.0.0.1:0 --http 127.0.0.1:0 \
  --topic orders:1 --ready-file "$work/ready.json") >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 300); do
  [ -s "$work/ready.json" ] && break
  kill -0 "$broker_pid" 2>/dev/null || { echo "the broker exited before it was ready:"; cat "$work/broker.log"; exit 1; }
  sleep 0.1
done
[ -s "$work/ready.json" ] || { echo "the broker was not ready within 30 s"; cat "$work/broker.log"; exit 1; }
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/ready.json" "$1"; }
KAFKA=$(field kafka)
HTTP=$(field http)
echo "broker: kafka $KAFKA, http $HTTP"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; [ $# -lt 2 ] || printf '%s\n' "$2" | sed 's/^/    /'; }
# check WHAT PYTHON-EXPRESSION: `out` is the example's output as JSON.
check_json() {
  local what=$1 expr=$2 verdict
  if verdict=$(python3 -c '
import json, sys
out = json.loads(sys.argv[2])
if not (eval(sys.argv[1])):
    sys.exit("not " + sys.argv[1])' "$expr" "$out" 2>&1); then
    pass "$what"
  else
    fail "$what" "$verdict"$'\n'"answer: $out"
  fi
}
kcat_orders() { timeout 20 kcat -b "$KAFKA" -C -t orders -e -q -f '%k %s\n' 2>&1; }
# run CMD: the example as written, on the real address; its output in $out.
run() {
  out=$(timeout 20 bash -c "${1//127.0.0.1:9644/$HTTP}" 2>&1)
}
# The example whose text matches the extended regular expression PATTERN (exactly one).
example() {
  local c found=()
  for c in "${commands[@]}"; do
    if grep -Eq -- "$1" <<<"$c"; then found+=("$c"); fi
  done
  if [ ${#found[@]} -ne 1 ]; then
    fail "README example matching /$1/: found ${#found[@]}, want 1"
    return 1
  fi
  used+=("${found[0]}")
  ex="${found[0]}"
}
used=()

# 1. REST proxy: produce, then the records GET.
if example "-X POST http://127.0.0.1:9644/topics/orders "; then
  if run "$ex"; then
    check_json "REST produce answers offset 0 in partition 0" \
      'out["offsets"] == [{"error": None, "error_code": None, "offset": 0, "partition": 0}]'
  else fail "REST produce: exit $?" "$out"; fi
  got=$(kcat_orders)
  if [ "$got" = '"o-1" {"total":12}' ]; then pass "kcat reads exactly the produced record"
  else fail "kcat after the REST produce: want '\"o-1\" {\"total\":12}'" "$got"; fi
fi
if example "/topics/orders/partitions/0/records"; then
  if run "$ex"; then
    check_json "records GET returns that record" \
      'out == [{"key": "o-1", "offset": 0, "partition": 0, "topic": "orders", "value": {"total": 12}}]'
  else fail "records GET: exit $?" "$out"; fi
fi

# 2. Fault injection: add, list (after a kcat produce retried through it), delete.
fault_id=
if example "-X POST http://127.0.0.1:9644/admin/faults "; then
  if run "$ex"; then
    check_json "fault rule added" 'isinstance(out.get("id"), int)'
    fault_id=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("id", ""))' "$out" 2>/dev/null)
  else fail "fault POST: exit $?" "$out"; fi
fi
# NOT_LEADER_OR_FOLLOWER is retriable: kcat's produce goes through after the rule's 2 errors.
if produced=$(printf 'o-2:{"total":5}\n' | timeout 20 kcat -b "$KAFKA" -P -t orders -p 0 -K: 2>&1); then
  pass "kcat produce retried through the fault rule"
else fail "kcat produce through the fault rule" "$produced"; fi
if example "^curl -s http://127.0.0.1:9644/admin/faults( |$)"; then
  if run "$ex"; then
    check_json "the fault example's rule is listed, fired 2 and spent" \
      '[{k: f.get(k) for k in ("id", "api", "topic", "action", "error", "count", "fired", "spent")} for f in out] == [{"id": '"${fault_id:-None}"', "api": "Produce", "topic": "orders", "action": "error", "error": "NOT_LEADER_OR_FOLLOWER", "count": 2, "fired": 2, "spent": True}]'
  else fail "fault GET: exit $?" "$out"; fi
fi
if example "-X DELETE http://127.0.0.1:9644/admin/faults/"; then
  if run "$ex"; then
    out=$(curl -s "http://$HTTP/admin/faults")
    check_json "the DELETE removed the rule" 'out == []'
  else fail "fault DELETE: exit $?" "$out"; fi
fi

# 3. The request recorder: the list, then the stream (it never ends: 3 s of it, kcat -L meanwhile).
if example "/admin/requests\?"; then
  if run "$ex"; then check_json "requests list answers a list" 'isinstance(out, list)'
  else fail "requests list: exit $?" "$out"; fi
fi
if example "/admin/requests/stream"; then
  timeout 3 bash -c "${ex//127.0.0.1:9644/$HTTP}" >"$work/stream.txt" 2>&1 &
  stream_pid=$!
  sleep 0.5
  timeout 10 kcat -b "$KAFKA" -L >/dev/null 2>&1
  wait "$stream_pid"
  rc=$?
  if [ "$rc" = 124 ] && grep -q '^event: request' "$work/stream.txt" \
    && grep -q '^data: {.*"api":"Metadata"' "$work/stream.txt"; then
    pass "requests stream sends kcat's Metadata as an event"
  else fail "requests stream (exit $rc, 124 expected: still streaming)" "$(head -c 2000 "$work/stream.txt")"; fi
fi

# 4. Reset: everything, then only orders (after one more record).
if example "-X POST http://127.0.0.1:9644/admin/reset( |$)"; then
  if run "$ex"; then check_json "reset answers one topic, one partition, no group" \
      'out == {"topics": 1, "partitions": 1, "groups": 0}'
  else fail "reset: exit $?" "$out"; fi
  got=$(kcat_orders)
  if [ -z "$got" ]; then pass "kcat reads nothing after the reset"; else fail "orders after the reset" "$got"; fi
fi
if example "/admin/reset\?topics=orders"; then
  printf 'o-3:{"total":7}\n' | timeout 20 kcat -b "$KAFKA" -P -t orders -p 0 -K: >/dev/null 2>&1
  got=$(kcat_orders)
  [ "$got" = 'o-3 {"total":7}' ] || fail "kcat produce before the topic reset" "$got"
  if run "$ex"; then check_json "reset?topics=orders answers one topic, one partition" \
      'out["topics"] == 1 and out["partitions"] == 1'
  else fail "reset?topics=orders: exit $?" "$out"; fi
  got=$(kcat_orders)
  if [ -z "$got" ]; then pass "kcat reads nothing after reset?topics=orders"; else fail "orders after reset?topics=orders" "$got"; fi
fi

# Every example was run.
for c in "${commands[@]}"; do
  seen=0
  for u in "${used[@]}"; do [ "$u" != "$c" ] || seen=1; done
  [ "$seen" = 1 ] || fail "an example this script does not check: $c"
done
kill -0 "$broker_pid" 2>/dev/null || fail "the broker died" "$(tail -20 "$work/broker.log")"

echo "README HTTP examples: $passed passed, $failed failed"
[ "$failed" = 0 ]
