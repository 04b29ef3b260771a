#!/usr/bin/env bash
# The long fuzz run: each target for FUZZ_RUNS (10,000,000) executions, under the same
# memory and time limits as CI's smoke run. Usage:
#
#   fuzz/long-run.sh [-j JOBS] [TARGET...]     # default: every target, one at a time
#
# -j runs that many targets at once (one core each). The corpus each target grows is kept
# in fuzz/corpus/<target>/ (not committed), so a second run continues where the first
# stopped; crashes land in fuzz/artifacts/<target>/. Exits non-zero if any target crashed,
# hung (-timeout) or went over the memory limit (-rss_limit_mb). Needs nightly and
# cargo-fuzz. Durations measured on a 2-core machine are in fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${FUZZ_RUNS:-10000000}
LIMITS=(-rss_limit_mb=2048 -timeout=10)
jobs=1
if [ "${1:-}" = "-j" ]; then
  jobs=$2
  shift 2
fi

cargo +nightly fuzz build
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Segment files go to a directory of this run (in memory when /dev/shm is there), removed at
# exit: a run that crashes leaves its temporary partition behind otherwise.
root=/dev/shm
[ -d "$root" ] || root=${TMPDIR:-/tmp}
export SLUICE_FUZZ_TMPDIR
SLUICE_FUZZ_TMPDIR=$(mktemp -d "$root/sluice-fuzz-long.XXXXXX")
trap 'rm -rf "$SLUICE_FUZZ_TMPDIR"' EXIT

mkdir -p fuzz/logs
run_one() {
  local target=$1
  local corpus=fuzz/corpus/$target
  mkdir -p "$corpus"
  local extra=()
  # Up to four segments with their indexes need more than libFuzzer's default 4 KiB.
  [ "$target" = segment_recovery ] && extra+=(-max_len=16384)
  local seeds=(fuzz/seeds/"$target")
  [ -d "fuzz/regressions/$target" ] && seeds+=("fuzz/regressions/$target")
  local started=$SECONDS
  if cargo +nightly fuzz run "$target" "$corpus" "${seeds[@]}" -- \
      "${LIMITS[@]}" "${extra[@]}" -runs="$RUNS" -print_final_stats=1 \
      >"fuzz/logs/$target.log" 2>&1; then
    echo "$target: $RUNS runs, no crash ($((SECONDS - started)) s; log fuzz/logs/$target.log)"
  else
    echo "$target: FAILED after $((SECONDS - started)) s: see fuzz/logs/$target.log and fuzz/artifacts/$target/"
    return 1
  fi
}

failed=0
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$target" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
