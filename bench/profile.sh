#!/usr/bin/env bash
# Where the time goes, for a target bench/run.sh reports missed: bench/profile.sh BUILD_DIR
# [admission|sweep ...]. Uses valgrind --tool=callgrind, since this machine's perf cannot count
# instructions (`perf stat -e instructions true` says "not supported" in this VM). Callgrind
# counts instructions, not time, so its figures do not depend on what else the machine runs.
#
#   admission  admission_bench's DecodeEvaluate/typical and Parse/typical stages
#   https      instructions per request of `stratum-guard serve --workers 1` and of nginx (one
#              process, the webhook's answer as a fixed response, the same certificate) under
#              the same wrk load (typical review, 1 thread, 4 connections): counters zeroed after
#              a warm-up, dumped after a 10 s run, divided by wrk's request count
#   sweep      stratum-guard sweep --once --dry-run against the fake API server with 10,000 pods
#
# Output in $PROFILE_OUT (default BUILD_DIR/bench-results/profile-<UTC time>): the callgrind.out
# files and callgrind_annotate's top functions (inclusive and exclusive) as text.
set -euo pipefail

BUILD=${1:?usage: bench/profile.sh BUILD_DIR [admission|sweep ...]}
shift
SECTIONS=${*:-admission https sweep}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3
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
    https)
      "$BUILD/bench/bench-reviews" "$TMP" >/dev/null
      make_cert "$TMP"
      port=$(free_port)
      valgrind --tool=callgrind --callgrind-out-file="$OUT/https-webhook.callgrind.out" \
        "$BUILD/stratum-guard" serve --workers 1 --listen "127.0.0.1:$port" \
        --metrics-listen 127.0.0.1:0 --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" \
        2>"$TMP/serve.log" >/dev/null &
      webhook_pid=$!
      PIDS+=("$webhook_pid")
      wait_https "$port" 120
      curl -sk --max-time 30 -H 'Content-Type: application/json' --data-binary "@$TMP/typical.json" \
        -o "$TMP/typical.answer" "https://127.0.0.1:$port/validate"
      nginx_port=$(free_port)
      nginx_conf "$TMP/nginx" "$nginx_port" 1 "$TMP/typical.answer" "$ROOT"
      valgrind --tool=callgrind --callgrind-out-file="$OUT/https-nginx.callgrind.out" \
        nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off; master_process off;' \
        2>"$TMP/nginx/stderr.log" &
      nginx_pid=$!
      PIDS+=("$nginx_pid")
      wait_https "$nginx_port" 120
      for target in webhook nginx; do
        pid=$webhook_pid
        target_port=$port
        [[ $target == nginx ]] && pid=$nginx_pid && target_port=$nginx_port
        log "callgrind: $target under wrk (3 s warm-up, 10 s counted)"
        BODY_FILE=$TMP/typical.json timeout 60 wrk -t1 -c4 -d3s -s "$ROOT/bench/wrk/post.lua" \
          "https://127.0.0.1:$target_port/validate" >/dev/null
        callgrind_control -z "$pid" >/dev/null
        BODY_FILE=$TMP/typical.json timeout 60 wrk -t1 -c4 -d10s -s "$ROOT/bench/wrk/post.lua" \
          "https://127.0.0.1:$target_port/validate" >"$OUT/https-$target.wrk.txt"
        callgrind_control -d "$pid" >/dev/null
        # The dump is the first numbered file; the un-numbered one is written at exit.
        mv "$OUT/https-$target.callgrind.out.1" "$OUT/https-$target-load.callgrind.out"
        annotate "https-$target-load"
        requests=$(sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p' "$OUT/https-$target.wrk.txt")
        total=$(callgrind_annotate "$OUT/https-$target-load.callgrind.out" 2>/dev/null |
          awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
        echo "https target=$target requests=$requests instructions=$total per_request=$((total / requests))" |
          tee -a "$OUT/https.txt"
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
