#!/usr/bin/env bash
# What TLS and SASL cost: produce and consume throughput and broker CPU per GB over the
# PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-256) listeners of one release broker, in memory
# mode, medians of several runs, as a Markdown table.
#
#   benches/tls.sh [--runs N] [--messages N] [--size BYTES]
#
# The broker runs once with the three listeners (certificates made with the openssl command in
# a temporary directory); the load generator (benches/loadgen.rs) drives it with -X settings
# per listener and reads its CPU time by pid. Needs openssl and jq. On a shared machine run it
# niced: `nice -n 10 benches/tls.sh`.
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=3
MESSAGES=1000000
SIZE=1000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --messages) MESSAGES="$2"; shift 2 ;;
        --size) SIZE="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { echo "tls.sh: $*" >&2; }

TARGET="${CARGO_TARGET_DIR:-target}"
log "building the release broker and the load generator"
cargo build -q --release -p sluice --bin sluice
BROKER="$TARGET/release/sluice"
LOADGEN=$(cargo bench -p sluice-interop-tests --bench loadgen --no-run --message-format=json 2>/dev/null \
    | jq -r 'select(.reason == "compiler-artifact" and .target.name == "loadgen") | .executable // empty' \
    | tail -1)
[[ -x "$LOADGEN" ]] || { echo "cannot find the loadgen bench executable" >&2; exit 1; }

WORK=$(mktemp -d)
BROKER_PID=""
cleanup() {
    [[ -n "$BROKER_PID" ]] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
(
    cd "$WORK"
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
    openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
    echo "subjectAltName=IP:127.0.0.1" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
        -days 2 -extfile server.ext 2>/dev/null
)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PLAIN_PORT=$(free_port); SSL_PORT=$(free_port); SASL_PORT=$(free_port)
env -u SLUICE_BIN "$BROKER" serve --memory --http none \
    --listener "PLAINTEXT://127.0.0.1:$PLAIN_PORT" \
    --listener "SSL://127.0.0.1:$SSL_PORT" \
    --listener "SASL_SSL://127.0.0.1:$SASL_PORT" \
    --tls-cert "$WORK/server.pem" --tls-key "$WORK/server.key" \
    --sasl-user bench:bench-secret >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SASL_PORT") 2>/dev/null && break
    sleep 0.1
done

# listener name, port, -X settings
settings() {
    case "$1" in
        PLAINTEXT) echo "" ;;
        SSL) echo "-X security.protocol=SSL -X ssl.ca.location=$WORK/ca.pem" ;;
        SASL_SSL) echo "-X security.protocol=SASL_SSL -X ssl.ca.location=$WORK/ca.pem -X sasl.mechanism=SCRAM-SHA-256 -X sasl.username=bench -X sasl.password=bench-secret" ;;
    esac
}
port_of() { case "$1" in PLAINTEXT) echo "$PLAIN_PORT" ;; SSL) echo "$SSL_PORT" ;; SASL_SSL) echo "$SASL_PORT" ;; esac; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else print v[int((NR + 1) / 2)]}'; }

declare -A RESULT
for listener in PLAINTEXT SSL SASL_SSL; do
    for mode in produce consume; do
        : >"$WORK/$listener-$mode"
    done
    for run in $(seq "$RUNS"); do
        topic="tls-bench-$listener-$run"
        # shellcheck disable=SC2046
        common=(--bootstrap "127.0.0.1:$(port_of "$listener")" --broker-pid "$BROKER_PID"
            --topic "$topic" --messages "$MESSAGES" --size "$SIZE" $(settings "$listener"))
        for mode in produce consume; do
            log "$listener $mode run $run"
            "$LOADGEN" "$mode" "${common[@]}" 2>/dev/null | grep '^RESULT' >>"$WORK/$listener-$mode"
        done
    done
    for mode in produce consume; do
        for key in mb_per_s cpu_s_per_gb; do
            RESULT[$listener-$mode-$key]=$(field "$key" <"$WORK/$listener-$mode" | median)
        done
    done
done

echo "| listener | produce MB/s | produce broker core·s/GB | consume MB/s | consume broker core·s/GB |"
echo "|---|---|---|---|---|"
for listener in PLAINTEXT SSL SASL_SSL; do
    echo "| $listener | ${RESULT[$listener-produce-mb_per_s]} | ${RESULT[$listener-produce-cpu_s_per_gb]} | ${RESULT[$listener-consume-mb_per_s]} | ${RESULT[$listener-consume-cpu_s_per_gb]} |"
done
echo
echo "Medians of $RUNS runs, $MESSAGES messages of $SIZE bytes, one partition, acks=1, memory mode."
