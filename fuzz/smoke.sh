#!/usr/bin/env bash
# CI's short fuzz run: builds every fuzz target with nightly, replays the committed
# regression inputs, then fuzzes each target for FUZZ_SMOKE_SECONDS (30) from its seeds.
# Exits non-zero on any crash, hang (-timeout) or memory blow-up (-rss_limit_mb); prints
# SKIPPED and exits 0 where no nightly toolchain is installed (cargo-fuzz needs one), except
# under CI=true, where that fails.
#
# The long run (10 million executions per target) is fuzz/long-run.sh; see fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SMOKE_SECONDS:-30}
# The same limits as the long run: a leak or a slow input fails here first.
LIMITS=(-rss_limit_mb=2048 -timeout=10)

if ! cargo +nightly --version >/dev/null 2>&1; then
  # CI's machine image has nightly: there a missing one is a failure, not a skip.
  if [ -n "${CI:-}" ]; then
    echo "fuzz smoke: FAILED: no nightly toolchain (cargo-fuzz needs one)" >&2
    exit 1
  fi
  echo "fuzz smoke: SKIPPED (no nightly toolchain; install it with: rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

# Target directories are created per run and removed at exit, so neither the segment files
# of a crashed run nor the corpus it grew are left behind (and the repository is not touched).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SLUICE_FUZZ_TMPDIR="$work/files"
mkdir -p "$SLUICE_FUZZ_TMPDIR"

echo "== fuzz build"
cargo +nightly fuzz build
bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release

failed=()
for target in $(cargo +nightly fuzz list); do
  regressions=(fuzz/regressions/"$target"/*)
  if [ -e "${regressions[0]}" ]; then
    echo "== $target: ${#regressions[@]} regression input(s)"
    # Given files rather than directories, libFuzzer runs each once and exits.
    if ! "$bin_dir/$target" "${LIMITS[@]}" "${regressions[@]}"; then
      failed+=("$target (regression)")
      continue
    fi
  fi
  echo "== $target: fuzzing for ${SECONDS_PER_TARGET}s"
  corpus="$work/corpus/$target"
  mkdir -p "$corpus"
  # New inputs go to the first directory only: the committed seeds stay as they are.
  seeds=(fuzz/seeds/"$target")
  [ -d "fuzz/regressions/$target" ] && seeds+=("fuzz/regressions/$target")
  if ! cargo +nightly fuzz run "$target" "$corpus" "${seeds[@]}" -- \
      "${LIMITS[@]}" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1; then
    failed+=("$target")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz smoke: FAILED: ${failed[*]}"
  echo "the input is in fuzz/artifacts/<target>/; reproduce with: cargo +nightly fuzz run <target> <input>"
  exit 1
fi
echo "fuzz smoke: ok"
