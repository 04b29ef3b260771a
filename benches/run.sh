#!/usr/bin/env bash
# The standard performance suite: the load generator (benches/loadgen.rs) against the release
# broker, in memory mode and disk mode, medians of several runs, written as a Markdown report.
#
#   benches/run.sh [--runs N] [--quick] [--out FILE] [--data-dir DIR] [--storage memory|disk|both]
#                  [--against-kafka]
#
#   --runs N      runs of every item; the report shows medians (default 3; 1 with --quick)
#   --quick       a small smoke version of every item (seconds, not minutes)
#   --out FILE    also write the report to FILE
#   --data-dir    parent of the disk-mode data directories (default target/loadgen-data);
#                 each run gets a fresh directory there, removed afterwards
#   --storage     which modes to run (default both)
#   --against-kafka
#                 also run every disk-mode item (the pinned ones excepted) against Apache
#                 Kafka 4.x (interop-tests/kafka-reference/kafka.sh: one KRaft node, -Xmx512m),
#                 right after the same item against Sluice, and report the ratios
#   --report-from FILE
#                 measure nothing: write the report from FILE, RESULT lines kept by earlier
#                 runs (target/loadgen-results.txt; several runs' files may be concatenated,
#                 for medians over more runs on a noisy machine)
#
# Single-produce and e2e linger 0 also run with client and broker pinned to CPU 0 (see
# `loadgen --pin-cpus`). On a shared machine run it niced: `nice -n 10 benches/run.sh`.
# Progress goes to stderr, the raw RESULT lines to target/loadgen-results.txt, the report
# to stdout.
set -euo pipefail

cd "$(dirname "$0")/.."

RUNS=""
QUICK=0
OUT=""
DATA_DIR="target/loadgen-data"
STORAGES="memory disk"
REPORT_FROM=""
AGAINST_KAFKA=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --out) OUT="$2"; shift 2 ;;
        --data-dir) DATA_DIR="$2"; shift 2 ;;
        --storage)
            case "$2" in
                both) STORAGES="memory disk" ;;
                memory|disk) STORAGES="$2" ;;
                *) echo "--storage memory|disk|both" >&2; exit 2 ;;
            esac
            shift 2 ;;
        --report-from) REPORT_FROM="$2"; shift 2 ;;
        --against-kafka) AGAINST_KAFKA=1; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$RUNS" ]]; then
    if [[ $QUICK == 1 ]]; then RUNS=1; else RUNS=3; fi
fi

# ---------------------------------------------------------------------------------------
# Sizes: the standard suite, or the smoke version
# ---------------------------------------------------------------------------------------
if [[ $QUICK == 1 ]]; then
    SMALL_N=100000;  LARGE_N=20000;  TXN_N=2000
    E2E_RATE=2000;   E2E_S=3
    SINGLE_S=2;      STARTUP_RUNS=3
    SOAK_N=20000;    SOAK_E2E_S=2
else
    SMALL_N=1000000; LARGE_N=200000; TXN_N=20000
    E2E_RATE=10000;  E2E_S=20
    SINGLE_S=10;     STARTUP_RUNS=10
    SOAK_N=200000;   SOAK_E2E_S=5
fi
TIMEOUT_S=300

log() { echo "[run.sh $(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------
BROKER=target/release/sluice
RESULTS=target/loadgen-results.txt
# The storages measured: none when only reporting.
MEASURED="$STORAGES"
if [[ -n "$REPORT_FROM" ]]; then
    MEASURED=""
    RESULTS=$REPORT_FROM
    BUILT_REV="the builds of the runs in $REPORT_FROM"
    RUNS=$(grep "^item=produce-1KB-acks1 " "$RESULTS" | grep -c " storage=${STORAGES%% *} " || true)
else
    log "building the release broker"
    nice -n 10 cargo build --release -p sluice >&2
    # What was built: the commit, and whether the broker's sources differed from it.
    BUILT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n "$(git status --porcelain -- src Cargo.lock 2>/dev/null)" ]]; then
        BUILT_REV="$BUILT_REV + uncommitted changes"
    fi
    log "building the load generator"
    LOADGEN=$(nice -n 10 cargo bench -p sluice-interop-tests --bench loadgen --no-run --message-format=json 2>/dev/null \
        | jq -r 'select(.reason == "compiler-artifact" and .target.name == "loadgen") | .executable // empty' \
        | tail -1)
    if [[ -z "$LOADGEN" || ! -x "$LOADGEN" ]]; then
        echo "cannot find the loadgen bench executable" >&2
        exit 1
    fi
    mkdir -p "$DATA_DIR"
    : > "$RESULTS"
fi

storage_flags() {
    if [[ $1 == memory ]]; then echo "--memory"; else echo "--data-dir $DATA_DIR"; fi
}

# run ITEM STORAGE MODE ARGS...: one loadgen run against a fresh broker; its RESULT line is
# recorded with the item's name.
run() {
    local item=$1 storage=$2 mode=$3
    shift 3
    local line
    # shellcheck disable=SC2046
    if ! line=$("$LOADGEN" "$mode" --broker-bin "$BROKER" $(storage_flags "$storage") \
        --timeout-s "$TIMEOUT_S" "$@" | grep '^RESULT '); then
        log "FAILED: $item [$storage]"
        echo "item=$item storage=$storage FAILED" >> "$RESULTS"
        return 0
    fi
    log "$item [$storage]: ${line#RESULT }"
    echo "item=$item ${line#RESULT }" >> "$RESULTS"
    if [[ -n "$KAFKA_BOOTSTRAP" && $storage == disk && " $* " != *" --pin-cpus "* ]]; then
        run_kafka "$item" "$mode" "$@"
    fi
}

# run_kafka ITEM MODE ARGS...: the same loadgen run against the Kafka reference broker,
# recorded as storage=kafka.
run_kafka() {
    local item=$1 mode=$2
    shift 2
    local line
    if ! line=$("$LOADGEN" "$mode" --bootstrap "$KAFKA_BOOTSTRAP" --broker-pid "$KAFKA_PID" \
        --timeout-s "$TIMEOUT_S" "$@" | grep '^RESULT '); then
        log "FAILED: $item [kafka]"
        echo "item=$item storage=kafka FAILED" >> "$RESULTS"
        return 0
    fi
    line=${line/storage=external/storage=kafka}
    log "$item [kafka]: ${line#RESULT }"
    echo "item=$item ${line#RESULT }" >> "$RESULTS"
}

# The Kafka reference broker for --against-kafka: started once, its start time recorded.
KAFKA_BOOTSTRAP=""
KAFKA_PID=""
KAFKA_DIR=""
if [[ $AGAINST_KAFKA == 1 && -z "$REPORT_FROM" ]]; then
    KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-kafka-XXXXXX")
    log "starting the Kafka reference broker"
    started_ns=$(date +%s%N)
    KAFKA_BOOTSTRAP=$(interop-tests/kafka-reference/kafka.sh start "$KAFKA_DIR" | tail -1)
    start_ms=$(( ($(date +%s%N) - started_ns) / 1000000 ))
    KAFKA_PID=$(cat "$KAFKA_DIR/kafka.pid")
    kafka_rss=$(awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$KAFKA_PID/status")
    # One start, as kafka.sh makes it: storage formatted, the JVM up, "Kafka Server started".
    echo "item=startup storage=kafka ready_ms=$start_ms idle_rss_mib=$kafka_rss" >> "$RESULTS"
fi
stop_kafka() {
    if [[ -n "$KAFKA_DIR" ]]; then
        interop-tests/kafka-reference/kafka.sh stop "$KAFKA_DIR" >/dev/null 2>&1 || true
        rm -rf "$KAFKA_DIR"
        KAFKA_DIR=""
    fi
}

# ---------------------------------------------------------------------------------------
# The suite
# ---------------------------------------------------------------------------------------
for storage in $MEASURED; do
    for ((r = 1; r <= RUNS; r++)); do
        log "== $storage, run $r of $RUNS"
        for acks in 1 all; do
            run "produce-100B-acks$acks" "$storage" produce --messages "$SMALL_N" --size 100 \
                --acks "$acks" --linger-ms 5
            run "produce-1KB-acks$acks" "$storage" produce --messages "$LARGE_N" --size 1000 \
                --acks "$acks" --linger-ms 5
        done
        # Transactions: 100 records of 1 KB per transaction against the idempotent producer
        # they build on, and read_committed against read_uncommitted over such a topic.
        # librdkafka registers each transaction's first partition on a 100 ms timer, so a
        # transaction takes about 100 ms whatever the broker (Kafka 4.4: the same): fewer
        # messages here.
        run produce-1KB-idempotent "$storage" produce --messages "$TXN_N" --size 1000 \
            --acks all --idempotence --linger-ms 5
        run produce-1KB-txn100 "$storage" produce --messages "$TXN_N" --size 1000 \
            --acks all --idempotence --linger-ms 5 --transaction-records 100
        run consume-1KB-txn-uncommitted "$storage" consume --messages "$TXN_N" --size 1000 \
            --acks all --transaction-records 100
        run consume-1KB-txn-committed "$storage" consume --messages "$TXN_N" --size 1000 \
            --acks all --transaction-records 100 --read-committed
        run consume-100B "$storage" consume --messages "$SMALL_N" --size 100
        run consume-1KB "$storage" consume --messages "$LARGE_N" --size 1000
        run group-consume-1KB "$storage" consume --messages "$LARGE_N" --size 1000 --group
        for linger in 5 0; do
            run "e2e-linger$linger" "$storage" e2e --rate "$E2E_RATE" --duration-s "$E2E_S" \
                --size 100 --linger-ms "$linger"
        done
        # One request in flight (ping-pong), and five, as a producer keeps by default
        # (max.in.flight.requests.per.connection).
        for window in 1 5; do
            run "single-produce-w$window" "$storage" single-produce --duration-s "$SINGLE_S" \
                --size 100 --in-flight "$window"
            # Again with client and broker on one CPU: on a VM every cross-vCPU wakeup is an
            # IPI and a VM exit, which otherwise dominates ping-pong.
            run "single-produce-w$window-pinned" "$storage" single-produce \
                --duration-s "$SINGLE_S" --size 100 --in-flight "$window" --pin-cpus 0
        done
        run e2e-linger0-pinned "$storage" e2e --rate "$E2E_RATE" --duration-s "$E2E_S" \
            --size 100 --linger-ms 0 --pin-cpus 0
    done
    log "== $storage: startup x $STARTUP_RUNS"
    line=$("$LOADGEN" startup --broker-bin "$BROKER" $(storage_flags "$storage") \
        --runs "$STARTUP_RUNS" | grep '^RESULT ') || line="RESULT mode=startup FAILED"
    echo "item=startup ${line#RESULT }" >> "$RESULTS"
done

# ---------------------------------------------------------------------------------------
# RSS through a whole sequence on one broker process
# ---------------------------------------------------------------------------------------
SOAK_PID=""
SOAK_DIR=""
cleanup() {
    if [[ -n "$SOAK_PID" ]] && kill -0 "$SOAK_PID" 2>/dev/null; then
        kill "$SOAK_PID" 2>/dev/null || true
        wait "$SOAK_PID" 2>/dev/null || true
    fi
    if [[ -n "$SOAK_DIR" ]]; then rm -rf "$SOAK_DIR"; fi
}
trap 'cleanup; stop_kafka' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rss_mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

for storage in $MEASURED; do
    log "== $storage: RSS through one broker's sequence"
    port=$(free_port)
    SOAK_DIR=$(mktemp -d "$DATA_DIR/soak-XXXXXX")
    if [[ $storage == memory ]]; then flags=(--memory); else flags=(--data-dir "$SOAK_DIR/data"); fi
    RUST_LOG=warn "$BROKER" serve --listen "127.0.0.1:$port" --http none "${flags[@]}" \
        > "$SOAK_DIR/broker.log" 2>&1 &
    SOAK_PID=$!
    for _ in $(seq 1 500); do
        if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.01
    done
    sleep 1
    idle=$(rss_mib "$SOAK_PID" VmRSS)
    common=(--bootstrap "127.0.0.1:$port" --broker-pid "$SOAK_PID" --timeout-s "$TIMEOUT_S")
    ok=1
    {
        "$LOADGEN" produce "${common[@]}" --topic soak --messages "$SOAK_N" --size 1000 --acks 1 &&
        "$LOADGEN" consume "${common[@]}" --topic soak --messages "$SOAK_N" --size 1000 &&
        "$LOADGEN" consume "${common[@]}" --topic soak --messages "$SOAK_N" --size 1000 --group &&
        "$LOADGEN" e2e "${common[@]}" --rate "$E2E_RATE" --duration-s "$SOAK_E2E_S" --linger-ms 5 &&
        "$LOADGEN" single-produce "${common[@]}" --duration-s "$SOAK_E2E_S"
    } > "$SOAK_DIR/loadgen.log" 2>&1 || ok=0
    sleep 2
    after=$(rss_mib "$SOAK_PID" VmRSS)
    peak=$(rss_mib "$SOAK_PID" VmHWM)
    stored=$(grep -h '^RESULT ' "$SOAK_DIR/loadgen.log" | grep -o 'mode=[a-z-]*' | tr '\n' ' ')
    if [[ $ok == 0 ]]; then
        log "the $storage sequence failed:"; tail -5 "$SOAK_DIR/loadgen.log" >&2
    fi
    echo "item=soak storage=$storage ok=$ok idle_rss_mib=$idle after_rss_mib=$after peak_rss_mib=$peak ran=${stored// /,}" >> "$RESULTS"
    cleanup
    SOAK_PID=""
    SOAK_DIR=""
done

# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------

# value ITEM STORAGE KEY: the median of KEY over the item's runs, or NA.
value() {
    grep "^item=$1 " "$RESULTS" | grep " storage=$2 " | grep -o " $3=[^ ]*" | cut -d= -f2 \
        | grep -E '^-?[0-9.]+$' | sort -g \
        | awk '{ v[NR] = $1 } END {
            if (NR == 0) print "NA";
            else if (NR % 2) print v[(NR + 1) / 2];
            else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fmt PRECISION VALUE
fmt() { if [[ $2 == NA ]]; then echo NA; else printf "%.${1}f" "$2"; fi; }
# ratio A B: A / B, or NA
ratio() {
    if [[ $1 == NA || $2 == NA ]]; then echo NA; else awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "NA"; else printf "%.2f", a / b }'; fi
}
# check VALUE OP LIMIT: ✅ or ❌ (NA when not measured)
check() {
    if [[ $1 == NA ]]; then echo "not measured"; return; fi
    if awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { exit !((op == "<" && v < l) || (op == "<=" && v <= l) || (op == ">" && v > l) || (op == ">=" && v >= l)) }'; then
        echo "✅ met"
    else
        echo "❌ not met"
    fi
}
failures() { grep -c "^item=$1 storage=$2 FAILED" "$RESULTS" || true; }

report() {
    local cpu mem_total kernel
    cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
    mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    kernel=$(uname -r)
    local bin_bytes stripped
    bin_bytes=$(stat -c %s "$BROKER")
    stripped=NA
    if command -v strip > /dev/null; then
        local tmp
        tmp=$(mktemp)
        if strip -o "$tmp" "$BROKER" 2>/dev/null; then stripped=$(stat -c %s "$tmp"); fi
        rm -f "$tmp"
    fi

    echo "# Sluice performance suite"
    echo
    echo "- Date: $(date -u +'%Y-%m-%d %H:%M UTC'); broker built from $BUILT_REV; $( [[ $QUICK == 1 ]] && echo 'quick (smoke) sizes' || echo 'standard sizes'); medians of $RUNS run(s)"
    echo "- Machine: $(nproc) CPUs ($cpu), $mem_total RAM, Linux $kernel; clients and broker share the machine over 127.0.0.1"
    echo "- Broker: \`$BROKER\` ($(awk -v b="$bin_bytes" 'BEGIN { printf "%.1f MiB", b / 1048576 }') with debug info$( [[ $stripped != NA ]] && awk -v b="$stripped" 'BEGIN { printf ", %.1f MiB stripped", b / 1048576 }'))"
    echo "- Clients: rdkafka (librdkafka) for produce/consume/e2e; a raw kafka-protocol client for single-produce. MB = 10^6 payload bytes; broker CPU is user+system time of the broker process during the measured phase only."
    echo

    echo "## Throughput"
    echo
    echo "| workload | storage | msgs/s | MB/s | broker CPU core·s/GB | first msg (ms) | broker RSS after (MiB) | disk / memory msgs/s |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    local item label storage
    for item in produce-100B-acks1 produce-100B-acksall produce-1KB-acks1 produce-1KB-acksall \
        produce-1KB-idempotent produce-1KB-txn100 consume-100B consume-1KB group-consume-1KB \
        consume-1KB-txn-uncommitted consume-1KB-txn-committed; do
        case $item in
            produce-1KB-idempotent) label="produce ${TXN_N} × 1 KB, idempotent, acks=all" ;;
            produce-1KB-txn100) label="produce ${TXN_N} × 1 KB, transactions of 100 records" ;;
            consume-1KB-txn-uncommitted) label="consume ${TXN_N} × 1 KB written in transactions, read_uncommitted" ;;
            consume-1KB-txn-committed) label="consume ${TXN_N} × 1 KB written in transactions, read_committed" ;;
            produce-100B-acks1) label="produce ${SMALL_N} × 100 B, acks=1, linger 5 ms" ;;
            produce-100B-acksall) label="produce ${SMALL_N} × 100 B, acks=all, linger 5 ms" ;;
            produce-1KB-acks1) label="produce ${LARGE_N} × 1 KB, acks=1, linger 5 ms" ;;
            produce-1KB-acksall) label="produce ${LARGE_N} × 1 KB, acks=all, linger 5 ms" ;;
            consume-100B) label="consume ${SMALL_N} × 100 B (assign)" ;;
            consume-1KB) label="consume ${LARGE_N} × 1 KB (assign)" ;;
            group-consume-1KB) label="consume ${LARGE_N} × 1 KB (consumer group)" ;;
        esac
        for storage in $STORAGES; do
            local first="–" cmp="–"
            if [[ $item == *consume* ]]; then first=$(fmt 0 "$(value "$item" "$storage" first_msg_ms)"); fi
            if [[ $storage == disk ]]; then cmp=$(ratio "$(value "$item" disk msgs_per_s)" "$(value "$item" memory msgs_per_s)"); fi
            local failed note=""
            failed=$(failures "$item" "$storage")
            if [[ $failed != 0 ]]; then note=" ($failed run(s) failed)"; fi
            echo "| $label$note | $storage | $(fmt 0 "$(value "$item" "$storage" msgs_per_s)") | $(fmt 1 "$(value "$item" "$storage" mb_per_s)") | $(fmt 3 "$(value "$item" "$storage" cpu_s_per_gb)") | $first | $(fmt 0 "$(value "$item" "$storage" rss_mib)") | $cmp |"
        done
    done
    echo

    echo "## Transactions (medians; ratios of the transactional or read_committed run to its plain counterpart)"
    echo
    echo "| storage | txn / idempotent msgs/s | txn / idempotent CPU per GB | read_committed / read_uncommitted msgs/s | read_committed / read_uncommitted CPU per GB |"
    echo "|---|---:|---:|---:|---:|"
    for storage in $STORAGES; do
        echo "| $storage | $(ratio "$(value produce-1KB-txn100 "$storage" msgs_per_s)" "$(value produce-1KB-idempotent "$storage" msgs_per_s)") | $(ratio "$(value produce-1KB-txn100 "$storage" cpu_s_per_gb)" "$(value produce-1KB-idempotent "$storage" cpu_s_per_gb)") | $(ratio "$(value consume-1KB-txn-committed "$storage" msgs_per_s)" "$(value consume-1KB-txn-uncommitted "$storage" msgs_per_s)") | $(ratio "$(value consume-1KB-txn-committed "$storage" cpu_s_per_gb)" "$(value consume-1KB-txn-uncommitted "$storage" cpu_s_per_gb)") |"
    done
    echo

    if grep -q " storage=kafka " "$RESULTS"; then
        echo "## Against Apache Kafka 4.4 (disk mode; one KRaft node, -Xmx512m, same machine, alternating item by item)"
        echo
        echo "| workload | Sluice msgs/s | Kafka msgs/s | Sluice / Kafka | Sluice CPU core·s/GB | Kafka CPU core·s/GB | Kafka / Sluice CPU | Sluice RSS (MiB) | Kafka RSS (MiB) |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for item in produce-100B-acks1 produce-100B-acksall produce-1KB-acks1 produce-1KB-acksall \
            produce-1KB-idempotent produce-1KB-txn100 consume-100B consume-1KB group-consume-1KB; do
            echo "| $item | $(fmt 0 "$(value "$item" disk msgs_per_s)") | $(fmt 0 "$(value "$item" kafka msgs_per_s)") | $(ratio "$(value "$item" disk msgs_per_s)" "$(value "$item" kafka msgs_per_s)") | $(fmt 3 "$(value "$item" disk cpu_s_per_gb)") | $(fmt 3 "$(value "$item" kafka cpu_s_per_gb)") | $(ratio "$(value "$item" kafka cpu_s_per_gb)" "$(value "$item" disk cpu_s_per_gb)") | $(fmt 0 "$(value "$item" disk rss_mib)") | $(fmt 0 "$(value "$item" kafka rss_mib)") |"
        done
        for item in e2e-linger5 e2e-linger0; do
            echo "| $item p99 (ms) | $(fmt 3 "$(value "$item" disk p99_ms)") | $(fmt 3 "$(value "$item" kafka p99_ms)") | $(ratio "$(value "$item" disk p99_ms)" "$(value "$item" kafka p99_ms)") | | | | | |"
        done
        for item in single-produce-w1 single-produce-w5; do
            echo "| $item requests/s | $(fmt 0 "$(value "$item" disk requests_per_s)") | $(fmt 0 "$(value "$item" kafka requests_per_s)") | $(ratio "$(value "$item" disk requests_per_s)" "$(value "$item" kafka requests_per_s)") | | | | | |"
        done
        echo "| startup to ready (ms) | $(fmt 1 "$(value startup disk ready_ms)") | $(fmt 0 "$(value startup kafka ready_ms)") | 1/$(ratio "$(value startup kafka ready_ms)" "$(value startup disk ready_ms)") | | | | $(fmt 1 "$(value startup disk idle_rss_mib)") idle | $(fmt 1 "$(value startup kafka idle_rss_mib)") idle |"
        echo
    fi

    echo "## End-to-end latency (${E2E_RATE} msg/s × ${E2E_S} s, 100 B, acks=1; first second left out)"
    echo
    echo "| linger.ms | storage | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | received | broker CPU (% of a core) |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    local linger
    for linger in 0 0-pinned 5; do
        for storage in $STORAGES; do
            item="e2e-linger$linger"
            echo "| ${linger/-pinned/ (client and broker pinned to CPU 0)} | $storage | $(fmt 3 "$(value "$item" "$storage" p50_ms)") | $(fmt 3 "$(value "$item" "$storage" p99_ms)") | $(fmt 3 "$(value "$item" "$storage" p999_ms)") | $(fmt 3 "$(value "$item" "$storage" max_ms)") | $(fmt 0 "$(value "$item" "$storage" received)") | $(fmt 1 "$(value "$item" "$storage" broker_cpu_pct)") |"
        done
    done
    echo

    echo "## One connection, single-record Produce requests (${SINGLE_S} s, 100 B, acks=1, raw client)"
    echo
    echo "| in flight | storage | requests/s | p50 (µs) | p99 (µs) | p99.9 (µs) | broker CPU µs/request |"
    echo "|---:|---|---:|---:|---:|---:|---:|"
    local where window
    for item in single-produce-w1 single-produce-w1-pinned single-produce-w5 single-produce-w5-pinned; do
        window=${item#single-produce-w}
        window=${window%-pinned}
        for storage in $STORAGES; do
            where=$storage
            if [[ $item == *-pinned ]]; then where="$storage, pinned to CPU 0"; fi
            echo "| $window | $where | $(fmt 0 "$(value "$item" "$storage" requests_per_s)") | $(fmt 1 "$(value "$item" "$storage" p50_us)") | $(fmt 1 "$(value "$item" "$storage" p99_us)") | $(fmt 1 "$(value "$item" "$storage" p999_us)") | $(fmt 1 "$(value "$item" "$storage" broker_cpu_us_per_request)") |"
        done
    done
    echo

    echo "## Startup and memory"
    echo
    echo "| storage | start → first Metadata answer (median of ${STARTUP_RUNS}, ms) | idle RSS after 1 s (MiB) | one broker through the sequence: idle RSS → RSS after (peak), MiB |"
    echo "|---|---:|---:|---|"
    for storage in $STORAGES; do
        echo "| $storage | $(fmt 1 "$(value startup "$storage" ready_ms)") | $(fmt 1 "$(value startup "$storage" idle_rss_mib)") | $(value soak "$storage" idle_rss_mib) → $(value soak "$storage" after_rss_mib) ($(value soak "$storage" peak_rss_mib)) |"
    done
    echo
    echo "The sequence: produce ${SOAK_N} × 1 KB to one topic, consume them (assign), consume them again (group), e2e ${SOAK_E2E_S} s at ${E2E_RATE} msg/s, single-produce ${SOAK_E2E_S} s — all on one broker process. In memory mode the RSS holds the data itself."
    echo

    echo "## Targets"
    echo
    echo "| target | measured | |"
    echo "|---|---|---|"
    for storage in $STORAGES; do
        local v
        v=$(value produce-1KB-acks1 "$storage" cpu_s_per_gb)
        echo "| broker CPU ≤ 0.5 core·s per GB produced (1 KB, acks=1, $storage) | $(fmt 3 "$v") | $(check "$v" "<=" 0.5) |"
        v=$(value consume-1KB "$storage" cpu_s_per_gb)
        echo "| broker CPU ≤ 0.3 core·s per GB fetched (1 KB, $storage) | $(fmt 3 "$v") | $(check "$v" "<=" 0.3) |"
        v=$(value e2e-linger0 "$storage" p99_ms)
        echo "| e2e p99 < 2 ms at ${E2E_RATE} msg/s, linger 0 ($storage) | $(fmt 3 "$v") ms | $(check "$v" "<" 2) |"
        v=$(value e2e-linger0-pinned "$storage" p99_ms)
        echo "| the same, client and broker pinned to CPU 0 ($storage) | $(fmt 3 "$v") ms | $(check "$v" "<" 2) |"
        v=$(value e2e-linger5 "$storage" p99_ms)
        echo "| e2e p99 < 7 ms at ${E2E_RATE} msg/s, linger 5 ($storage) | $(fmt 3 "$v") ms | $(check "$v" "<" 7) |"
        v=$(value single-produce-w5 "$storage" requests_per_s)
        echo "| one connection > 50,000 single-message produce requests/s, 5 in flight ($storage) | $(fmt 0 "$v") | $(check "$v" ">" 50000) |"
        v=$(value single-produce-w5-pinned "$storage" requests_per_s)
        echo "| the same, client and broker pinned to CPU 0 ($storage) | $(fmt 0 "$v") | $(check "$v" ">" 50000) |"
        v=$(value single-produce-w1 "$storage" requests_per_s)
        echo "| the same, 1 in flight (ping-pong, bound by the round trip) ($storage) | $(fmt 0 "$v") | $(check "$v" ">" 50000) |"
        v=$(value single-produce-w1-pinned "$storage" requests_per_s)
        echo "| the same, 1 in flight, pinned to CPU 0 ($storage) | $(fmt 0 "$v") | $(check "$v" ">" 50000) |"
        v=$(value group-consume-1KB "$storage" first_msg_ms)
        echo "| group consumer's first message < 1 s ($storage) | $(fmt 0 "$v") ms | $(check "$v" "<" 1000) |"
    done
    if [[ $STORAGES == "memory disk" ]]; then
        local worst=NA worst_item="" r
        for item in produce-100B-acks1 produce-100B-acksall produce-1KB-acks1 produce-1KB-acksall consume-100B consume-1KB group-consume-1KB; do
            r=$(ratio "$(value "$item" disk msgs_per_s)" "$(value "$item" memory msgs_per_s)")
            if [[ $r != NA ]] && { [[ $worst == NA ]] || awk -v a="$r" -v b="$worst" 'BEGIN { exit !(a < b) }'; }; then
                worst=$r; worst_item=$item
            fi
        done
        echo "| disk mode within 20% of memory mode (lowest disk/memory msgs/s ratio) | $worst ($worst_item) | $(check "$worst" ">=" 0.8) |"
    fi
    for storage in $STORAGES; do
        echo "| RSS after the suite bounded ($storage) | $(value soak "$storage" after_rss_mib) MiB after, $(value soak "$storage" peak_rss_mib) MiB peak | see above |"
    done
}

if [[ -n "$OUT" ]]; then
    report | tee "$OUT"
else
    report
fi
log "raw results: $RESULTS"
