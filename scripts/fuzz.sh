#!/usr/bin/env bash
# Runs every fuzzer (or the ones named) for a budget of seconds each, two at a
# time, starting from the corpora kept in fuzz/corpus/<name> and merging what
# each run found back into them (minimised), so long runs grow the corpora
# that CI's short runs start from. Exits non-zero when a fuzzer finds a crash;
# its reproducer is left in build/fuzz/<name>-artifacts/.
# Usage: scripts/fuzz.sh [seconds] [name...]     e.g. scripts/fuzz.sh 900 protocol apps
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
BUILD_DIR=${BUILD_DIR:-build}
PARALLEL=${FUZZ_PARALLEL:-2}

scripts/setup.sh "$BUILD_DIR" >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for bin in "$BUILD_DIR"/fuzz/*_fuzzer; do names+=("$(basename "$bin" _fuzzer)"); done
fi

run_one() {
  local name=$1 bin="$BUILD_DIR/fuzz/${1}_fuzzer" scratch="$BUILD_DIR/fuzz/${1}-long-corpus"
  local artifacts="$BUILD_DIR/fuzz/${1}-artifacts/" log="$BUILD_DIR/fuzz/${1}-long.log"
  [ -x "$bin" ] || { echo "fuzz.sh: no fuzzer $bin" >&2; return 2; }
  mkdir -p "$scratch" "$artifacts" "fuzz/corpus/$name"
  local rc=0 max_len=4096
  [ "$name" = protocol ] && max_len=409600  # whole frames, deep nesting included
  ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$scratch" "fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
  # Keep what covers new ground, minimised, in the committed corpus.
  "$bin" -merge=1 "fuzz/corpus/$name" "$scratch" >>"$log" 2>&1 || true
  local runs; runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  echo "fuzz $name: ${SECONDS_EACH}s, ${runs:-?} runs, exit $rc, corpus $(ls "fuzz/corpus/$name" | wc -l) files (log $log)"
  return $rc
}

failed=0
pids=()
for name in "${names[@]}"; do
  run_one "$name" & pids+=($!)
  if [ ${#pids[@]} -ge "$PARALLEL" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
