#!/usr/bin/env bash
# Where the time goes, for a target bench/run.sh reports missed: bench/profile.sh BUILD_DIR
# [admission|sweep ...]. Uses valgrind --tool=callgrind, since this machine's perf cannot count
# instructions (`perf stat -e instructions true` says "not supported" in this VM). Callgrind
# counts instructions, not time, so its figures do not depend on what else the machine runs.
#
#   admission  admission_bench's DecodeEvaluate/typical and Parse/typical stages
#   sweep      stratum-guard sweep --once --dry-run against the fake API server with 10,000 pods
#
# Output in $PROFILE_OUT (default BUILD_DIR/bench-results/profile-<UTC time>): the callgrind.out
# files and callgrind_annotate's top functions (inclusive and exclusive) as text.
set -euo pipefail

BUILD=${1:?usage: bench/profile.sh BUILD_DIR [admission|sweep ...]}
shift
SECTIONS=${*:-admission sweep}
BUILD=$(cd "$BUILD" && pwd)
OUT=${PROFILE_OUT:-$BUILD/bench-results/profile-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/stratum-guard-profile.XXXXXX)
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

annotate() {  # annotate NAME: exclusive and inclusive top functions
  callgrind_annotate --threshold=98 "$OUT/$1.callgrind.out" >"$TMP/annotate.txt" 2>/dev/null || true
  head -45 "$TMP/annotate.txt" >"$OUT/$1.exclusive.txt"
  callgrind_annotate --inclusive=yes --threshold=98 "$OUT/$1.callgrind.out" >"$TMP/annotate.txt" \
    2>/dev/null || true
  head -45 "$TMP/annotate.txt" >"$OUT/$1.inclusive.txt"
}

for section in $SECTIONS; do
  case $section in
    admission)
      for stage in DecodeEvaluate Parse; do
        log "callgrind: admission_bench $stage/typical"
        # Google Benchmark 1.7 has no fixed-iteration flag: the iteration count is in the .txt,
        # to divide the stage's inclusive instruction count by.
        timeout 600 valgrind --tool=callgrind --callgrind-out-file="$OUT/admission-$stage.callgrind.out" \
          "$BUILD/bench/admission_bench" --benchmark_filter="^$stage/typical\$" \
          --benchmark_min_time=0.05 >"$OUT/admission-$stage.txt" 2>&1
        annotate "admission-$stage"
      done
      ;;
    sweep)
      log "callgrind: stratum-guard sweep, 10,000 pods"
      "$BUILD/bench/bench-fake-apiserver" --pods 10000 --dir "$TMP" >"$TMP/stdout" 2>"$TMP/stderr" &
      PIDS+=("$!")
      deadline=$((SECONDS + 300))
      until grep -q '^ready ' "$TMP/stdout"; do
        ((SECONDS < deadline)) || { log "fake API server not ready"; exit 1; }
        sleep 0.5
      done
      timeout 900 valgrind --tool=callgrind --callgrind-out-file="$OUT/sweep.callgrind.out" \
        "$BUILD/stratum-guard" sweep --once --dry-run --kubeconfig "$TMP/kubeconfig" \
        >"$OUT/sweep.txt" 2>"$TMP/sweep.log" || true
      annotate sweep
      ;;
    *) log "unknown section $section"; exit 2 ;;
  esac
done
log "done: $OUT"
