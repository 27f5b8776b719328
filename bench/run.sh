#!/usr/bin/env bash
# The benchmarks of issue 6, in one command: bench/run.sh BUILD_DIR [SECTION...]
# SECTION is micro, https or sweep (default: all three, in that order). `make bench` runs it on
# the Makefile's build directory. Results go to $BENCH_OUT (default BUILD_DIR/bench-results/
# <UTC time>): the raw output of every tool, machine.txt, results.txt (key=value lines) and
# summary.md (each target of the issue with the measured figure, met or missed), which
# docs/BENCHMARKS.md quotes.
#
# Everything talks to 127.0.0.1 only. Every process started here is stopped by the EXIT trap,
# whatever way the script ends, and every wait is bounded in time.
#
# Knobs (environment):
#   DURATION=20          seconds of each wrk run (saturation) and of each fixed-rate run
#   THREADS=2            wrk threads        CONNECTIONS=16   wrk connections (and loadgen's)
#   ROUNDS=2             wrk runs per target, webhook and nginx interleaved
#   FIXED_ROUNDS=3       fixed-rate runs per target, interleaved (the median p99 is the figure)
#   PROBE_DURATION=5     seconds of the wrk run before each fixed-rate round that measures the
#                        webhook's saturation rate again (the round runs at half of it)
#   LOAD_BODIES="typical large"   reviews POSTed (bench/reviews.cpp); the first one decides
#                        the ratio and the fixed rate
#   SWEEP_SIZES="10000 100000"    pods loaded into the fake API server
#   SWEEP_ROUNDS=3       sweeper passes per size (the median is reported)
#   PY_LIMITS="0 500"    Python baseline runs per size: 0 = one list call (the naive script),
#                        N = pages of N with limit/_continue; PY_LIMITS_<pods> overrides it
#                        for one size (PY_LIMITS_100000=0 by default: the slow one runs once)
#   PY_TIMEOUT=900       seconds before a Python run is abandoned (reported as such)
#   HOLD_CONNECTIONS=400 idle keep-alive TLS connections held open against each server to
#                        measure its memory per connection (under half of --max-connections,
#                        so the webhook's shedding of crowded listeners stays out of it)
#   SERVE_FLAGS=         more flags for `stratum-guard serve` (e.g. --workers 1)
#   SKIP_BUILD=0         1: measure the binaries already in BUILD_DIR (no cmake --build)
#   SERVE_LOG_LEVEL=info the webhook's --log-level, as in production: every denial, warning and
#                        exemption logged, a clean allowed review (the load reviews) only at debug
#   GO=/usr/lib/go-1.19/bin/go   Debian's Go, which builds the Go floor (bench/gofloor)
# The machine has 2 cores shared by the load generator and the server; nothing is pinned
# (no taskset), so client and server compete for the same cores, as docs/BENCHMARKS.md says.
set -euo pipefail

BUILD=${1:?usage: bench/run.sh BUILD_DIR [micro|https|sweep ...]}
shift
SECTIONS=${*:-micro https sweep}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
DURATION=${DURATION:-20}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-2}
FIXED_ROUNDS=${FIXED_ROUNDS:-3}
PROBE_DURATION=${PROBE_DURATION:-5}
LOAD_BODIES=${LOAD_BODIES:-typical large}
SWEEP_SIZES=${SWEEP_SIZES:-10000 100000}
SWEEP_ROUNDS=${SWEEP_ROUNDS:-3}
PY_LIMITS=${PY_LIMITS:-0 500}
PY_LIMITS_100000=${PY_LIMITS_100000:-0}
PY_TIMEOUT=${PY_TIMEOUT:-900}
SERVE_LOG_LEVEL=${SERVE_LOG_LEVEL:-info}
SERVE_FLAGS=${SERVE_FLAGS:-}
HOLD_CONNECTIONS=${HOLD_CONNECTIONS:-400}
PYTHON=/usr/bin/python3  # Debian's, with python3-kubernetes; not a pyenv python on PATH
GO=${GO:-/usr/lib/go-1.19/bin/go}
OUT=${BENCH_OUT:-$BUILD/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/stratum-guard-bench.XXXXXX)
RESULTS=$OUT/results.txt
: >"$RESULTS"

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
record() { echo "$*" >>"$RESULTS"; }
# stop PID: SIGTERM, then wait at most 10 s.
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
# GNU time's -v report -> "elapsed_s=.. max_rss_kib=.. user_s=.. sys_s=.."
time_fields() {
  awk -F': ' '
    /Elapsed \(wall clock\)/ { n = split($2, p, ":"); e = 0; for (i = 1; i <= n; i++) e = e * 60 + p[i] }
    /Maximum resident set size/ { rss = $2 }
    /User time/ { u = $2 } /System time/ { s = $2 }
    END { printf "elapsed_s=%.2f max_rss_kib=%d user_s=%.2f sys_s=%.2f", e, rss, u, s }' "$1"
}
# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
# The same for a process and its children still running (nginx's master and workers).
tree_cpu_seconds() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$(awk -v a="$total" -v b="$(cpu_seconds "$pid")" 'BEGIN { printf "%.2f", a + b }')
  done
  echo "$total"
}
# tree_cpu_seconds once the process has gone idle: two reads 0.2 s apart that agree, at most
# 5 s. When wrk stops, a server may still be judging the requests it had read (the Go floor
# spends tens of ms on a large review): that CPU belongs to its round, not to the next target's.
idle_tree_cpu_seconds() {
  local before after deadline=$((SECONDS + 5))
  after=$(tree_cpu_seconds "$1")
  while ((SECONDS < deadline)); do
    before=$after
    sleep 0.2
    after=$(tree_cpu_seconds "$1")
    [[ $after == "$before" ]] && break
  done
  echo "$after"
}

BIN=$BUILD/stratum-guard
BENCH_BIN=$BUILD/bench
GOFLOOR=$BENCH_BIN/gofloor

machine_info() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- server policy sweeper main common 2>/dev/null || echo ' (plus uncommitted changes)')"
    echo "nproc: $(nproc)"
    lscpu | head -20
    echo "memory: $(free -m | awk '/Mem:/ { print $2 " MiB" }')"
    echo "kernel: $(uname -r)"
    echo "compiler: $(g++ --version | head -1)"
    echo "build type: $(grep '^CMAKE_BUILD_TYPE:' "$BUILD/CMakeCache.txt" | cut -d= -f2)"
    echo "flags: $(grep '^CMAKE_CXX_FLAGS_RELWITHDEBINFO:' "$BUILD/CMakeCache.txt" | cut -d= -f2)"
    echo "openssl: $(openssl version)"
    echo "wrk: $(dpkg-query -W -f='${Version}' wrk)  nginx: $(dpkg-query -W -f='${Version}' nginx-light)"
    echo "python3-kubernetes: $(dpkg-query -W -f='${Version}' python3-kubernetes)"
    echo "go: $("$GO" version 2>/dev/null || echo missing)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$OUT/machine.txt"
}

build() {
  if [[ ${SKIP_BUILD:-0} == 1 ]]; then
    "$BENCH_BIN/bench-reviews" "$TMP"
    return
  fi
  if ! grep -q '^STRATUM_GUARD_BENCH:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    cmake -S "$ROOT" -B "$BUILD" -DSTRATUM_GUARD_BENCH=ON >/dev/null
  fi
  log "building the benchmark targets"
  cmake --build "$BUILD" -j "$(nproc)" --target stratum-guard admission_bench policy_bench \
    inspector_bench bench-reviews bench-loadgen bench-fake-apiserver >"$OUT/build.log"
  "$BENCH_BIN/bench-reviews" "$TMP"
}

# --- Micro-benchmarks --------------------------------------------------------------------
micro() {
  log "micro-benchmarks (admission_bench, policy_bench, inspector_bench)"
  # Repetitions, reported as medians: the machine is shared with other work between runs.
  # Repetitions interleaved at random, so that a slow patch of the shared machine hits the floor
  # and the stage it is compared with alike.
  "$BENCH_BIN/admission_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_enable_random_interleaving=true \
    --benchmark_min_time=0.2 --benchmark_out="$OUT/admission_bench.json" \
    --benchmark_out_format=json >"$OUT/admission_bench.txt"
  "$BENCH_BIN/policy_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_enable_random_interleaving=true \
    --benchmark_min_time=0.2 --benchmark_out="$OUT/policy_bench.json" \
    --benchmark_out_format=json >"$OUT/policy_bench.txt" ||
    log "policy_bench failed (its owner's file); see $OUT/policy_bench.txt"
  # A cache hit of --inspect-images: one image, and a three-container pod (per container).
  "$BENCH_BIN/inspector_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_min_time=0.2 --benchmark_out="$OUT/inspector_bench.json" \
    --benchmark_out_format=json >"$OUT/inspector_bench.txt"
}

# The Go floor (bench/gofloor/main.go), standard library only: built offline (GOPROXY=off), its
# caches in the build directory rather than in $HOME. Go's build cache makes a rebuild cheap.
build_gofloor() {
  log "building the Go floor"
  mkdir -p "$BENCH_BIN"
  (cd "$ROOT/bench/gofloor" && GOPROXY=off GOFLAGS='' GO111MODULE=off GOCACHE="$BENCH_BIN/gofloor-cache" \
    GOPATH="$BENCH_BIN/gofloor-gopath" timeout 300 "$GO" build -o "$GOFLOOR" main.go) \
    >>"$OUT/build.log" 2>&1 || { log "the Go floor does not build: see $OUT/build.log"; return 1; }
}

# post PORT BODY_FILE OUT_FILE: one AdmissionReview POSTed to /validate; OUT_FILE is the answer.
post() {
  curl -sk --max-time 10 -H 'Content-Type: application/json' --data-binary "@$2" -o "$3" \
    "https://127.0.0.1:$1/validate?timeout=10s"
}

# check_gofloor PORT: the Go floor denies the miner review (as v1 and as v1beta1, answering in
# the review's own version) and allows the benign ones, or the run fails: a floor that
# answers without judging would be no floor.
check_gofloor() {
  sed 's#"admission.k8s.io/v1"#"admission.k8s.io/v1beta1"#' "$TMP/miner.json" >"$TMP/miner-v1beta1.json"
  local name answer
  for name in miner miner-v1beta1 deployment cronjob $LOAD_BODIES; do
    answer=$TMP/gofloor-$name.answer
    post "$1" "$TMP/$name.json" "$answer" || { log "the Go floor does not answer $name"; return 1; }
    case $name in
      miner) grep -q '"allowed":false' "$answer" && grep -q '"apiVersion":"admission.k8s.io/v1"' "$answer" ;;
      miner-v1beta1) grep -q '"allowed":false' "$answer" && grep -q '"apiVersion":"admission.k8s.io/v1beta1"' "$answer" ;;
      *) grep -q '"allowed":true' "$answer" ;;
    esac || { log "the Go floor answers $name wrongly: $(head -c 300 "$answer")"; return 1; }
  done
}

# --- HTTPS load: the webhook against the Go floor and nginx, then a fixed rate --------------
https() {
  log "HTTPS load"
  build_gofloor
  make_cert "$TMP"
  local webhook_port nginx_port
  webhook_port=$(free_port)
  "$BIN" serve --listen "127.0.0.1:$webhook_port" --metrics-listen 127.0.0.1:0 \
    --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --log-level "$SERVE_LOG_LEVEL" $SERVE_FLAGS \
    2>"$TMP/serve.log" >/dev/null &
  local webhook_pid=$!
  PIDS+=("$webhook_pid")
  wait_https "$webhook_port" 20

  # The Go floor: the same certificate, a port of its own choosing, printed once it listens.
  "$GOFLOOR" --listen 127.0.0.1:0 --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    >"$TMP/gofloor.out" 2>"$TMP/gofloor.log" &
  local gofloor_pid=$! gofloor_port='' deadline=$((SECONDS + 20))
  PIDS+=("$gofloor_pid")
  until gofloor_port=$(sed -n 's/^listening 127\.0\.0\.1://p' "$TMP/gofloor.out") && [[ -n $gofloor_port ]]; do
    kill -0 "$gofloor_pid" 2>/dev/null || { log "the Go floor died: $(tail -3 "$TMP/gofloor.log")"; return 1; }
    ((SECONDS < deadline)) || { log "the Go floor does not listen after 20 s"; return 1; }
    sleep 0.1
  done
  wait_https "$gofloor_port" 20
  check_gofloor "$gofloor_port"

  local first_body
  first_body=$(echo "$LOAD_BODIES" | awk '{ print $1 }')
  for body in $LOAD_BODIES; do
    # The webhook's own answer, byte for byte, is what nginx returns for the same body.
    curl -sk --max-time 10 -H 'Content-Type: application/json' --data-binary "@$TMP/$body.json" \
      -D "$OUT/webhook-$body.headers" -o "$TMP/$body.answer" \
      "https://127.0.0.1:$webhook_port/validate?timeout=10s"
    if ! grep -q '"allowed":true' "$TMP/$body.answer" || grep -q "['\$\\\\]" "$TMP/$body.answer"; then
      log "unexpected webhook answer for $body: $(head -c 300 "$TMP/$body.answer")"
      return 1
    fi
    cp "$TMP/$body.answer" "$OUT/webhook-$body.answer.json"
  done

  # One nginx per body: each returns the webhook's answer to that body.
  declare -A nginx_ports
  local nginx_pids=()
  declare -A nginx_pid_of
  for body in $LOAD_BODIES; do
    nginx_port=$(free_port)
    local dir=$TMP/nginx-$body
    nginx_conf "$dir" "$nginx_port" "$(nproc)" "$TMP/$body.answer" "$ROOT"
    nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/stderr.log" &
    PIDS+=("$!")
    nginx_pids+=("$!")
    nginx_pid_of[$body]=$!
    wait_https "$nginx_port" 20
    curl -sk --max-time 10 -H 'Content-Type: application/json' --data-binary "@$TMP/$body.json" \
      -D "$OUT/nginx-$body.headers" -o "$TMP/$body.nginx" \
      "https://127.0.0.1:$nginx_port/validate?timeout=10s"
    cmp -s "$TMP/$body.answer" "$TMP/$body.nginx" || { log "nginx answers differently"; return 1; }
    nginx_ports[$body]=$nginx_port
    record "answer body=$body request_bytes=$(stat -c %s "$TMP/$body.json") answer_bytes=$(stat -c %s "$TMP/$body.answer") gofloor_answer_bytes=$(stat -c %s "$TMP/gofloor-$body.answer") webhook_header_bytes=$(stat -c %s "$OUT/webhook-$body.headers") nginx_header_bytes=$(stat -c %s "$OUT/nginx-$body.headers")"
  done
  record "tls webhook=$(echo | openssl s_client -connect "127.0.0.1:$webhook_port" -servername localhost 2>/dev/null | grep -m1 -E '^New,' | tr ' ' '_') nginx=$(echo | openssl s_client -connect "127.0.0.1:${nginx_ports[$first_body]}" -servername localhost 2>/dev/null | grep -m1 -E '^New,' | tr ' ' '_') gofloor=$(echo | openssl s_client -connect "127.0.0.1:$gofloor_port" -servername localhost 2>/dev/null | grep -m1 -E '^New,' | tr ' ' '_')"

  # Saturation: wrk with the same threads, connections and duration against each, interleaved
  # so that a slow patch of the shared machine hits all of them. Each target's CPU time is read
  # from /proc before and after its run: divided by the requests, it is the server's CPU per
  # request, which the client's share of the two cores does not blur.
  for body in $LOAD_BODIES; do
    for target in webhook gofloor nginx; do  # warm-up, not recorded
      local port=$webhook_port
      [[ $target == nginx ]] && port=${nginx_ports[$body]}
      [[ $target == gofloor ]] && port=$gofloor_port
      BODY_FILE=$TMP/$body.json WRK_PATH= timeout 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d3s \
        -s "$ROOT/bench/wrk/post.lua" "https://127.0.0.1:$port/validate" >/dev/null
    done
    for round in $(seq "$ROUNDS"); do
      # webhook-transport: the same POST to /healthz, which the webhook answers 405 after
      # reading the whole body, without parsing it: its TLS and HTTP stack alone.
      for target in webhook webhook-transport gofloor nginx; do
        local port=$webhook_port pid=$webhook_pid path=
        [[ $target == nginx ]] && port=${nginx_ports[$body]} && pid=${nginx_pid_of[$body]}
        [[ $target == gofloor ]] && port=$gofloor_port && pid=$gofloor_pid
        [[ $target == webhook-transport ]] && path=/healthz
        log "wrk $target $body round $round (${DURATION}s, $THREADS threads, $CONNECTIONS connections)"
        local cpu_before cpu_after
        cpu_before=$(tree_cpu_seconds "$pid")
        BODY_FILE=$TMP/$body.json WRK_PATH=$path timeout $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" \
          -d"${DURATION}s" --timeout 10s --latency -s "$ROOT/bench/wrk/post.lua" \
          "https://127.0.0.1:$port/validate" >"$OUT/wrk-$target-$body-$round.txt"
        cpu_after=$(idle_tree_cpu_seconds "$pid")
        record "wrk target=$target body=$body round=$round threads=$THREADS connections=$CONNECTIONS $(grep '^RESULT' "$OUT/wrk-$target-$body-$round.txt" | cut -d' ' -f2-) server_cpu_s=$(awk -v a="$cpu_after" -v b="$cpu_before" 'BEGIN { printf "%.2f", a - b }')"
      done
    done
  done

  # Latency at a moderate load: half of the webhook's saturation rate (first body), open loop
  # with latency from each request's due time. The tail moves the most from run to run on a
  # shared machine: FIXED_ROUNDS interleaved pairs. This VM's speed drifts by up to 2x within
  # minutes, so each round measures the saturation rate again, with a PROBE_DURATION wrk run
  # just before it: a rate taken from minutes earlier can be past what the server can do now.
  local rate
  for round in $(seq "$FIXED_ROUNDS"); do
    log "saturation probe of the webhook ($first_body, ${PROBE_DURATION}s, round $round)"
    BODY_FILE=$TMP/$first_body.json WRK_PATH= timeout $((PROBE_DURATION + 30)) wrk -t"$THREADS" \
      -c"$CONNECTIONS" -d"${PROBE_DURATION}s" -s "$ROOT/bench/wrk/post.lua" \
      "https://127.0.0.1:$webhook_port/validate" >"$OUT/probe-$round.txt"
    rate=$(grep '^RESULT' "$OUT/probe-$round.txt" | tr ' ' '\n' | sed -n 's/^rps=//p' |
      awk '{ printf "%d", $1 / 2 }')
    record "probe body=$first_body round=$round $(grep '^RESULT' "$OUT/probe-$round.txt" | cut -d' ' -f2-)"
    for target in webhook nginx; do
      local port=$webhook_port
      [[ $target == nginx ]] && port=${nginx_ports[$first_body]}
      log "fixed rate $rate/s to $target ($first_body, ${DURATION}s + 3s warm-up, round $round)"
      timeout $((DURATION + 60)) "$BENCH_BIN/bench-loadgen" --port "$port" --body "$TMP/$first_body.json" \
        --rate "$rate" --connections "$CONNECTIONS" --duration $((DURATION + 3)) --warmup 3 \
        >"$OUT/loadgen-$target-$round.txt" || log "loadgen $target reported errors"
      record "fixed_rate target=$target body=$first_body round=$round $(cat "$OUT/loadgen-$target-$round.txt")"
    done
  done

  # Memory per idle keep-alive connection: HOLD_CONNECTIONS TLS connections, one answered
  # request each (the API server's pool between admissions), held open while the server's
  # resident memory is read; the difference from before, divided by the connections. Each
  # server has already served the load above, so its allocator's pools are warm.
  for target in webhook gofloor nginx; do
    local port=$webhook_port pid=$webhook_pid
    [[ $target == nginx ]] && port=${nginx_ports[$first_body]} && pid=${nginx_pid_of[$first_body]}
    [[ $target == gofloor ]] && port=$gofloor_port && pid=$gofloor_pid
    log "idle memory: $HOLD_CONNECTIONS keep-alive connections held against $target"
    local rss
    rss=$(held_rss_kib "$BENCH_BIN/bench-loadgen" "$port" "$TMP/$first_body.json" \
      "$HOLD_CONNECTIONS" "$pid")
    record "idle_memory target=$target connections=$HOLD_CONNECTIONS $(awk -v n="$HOLD_CONNECTIONS" \
      '{ printf "rss_before_kib=%d rss_held_kib=%d per_connection_kib=%.1f", $1, $2, ($2 - $1) / n }' <<<"$rss")"
  done

  # The webhook's own view: its admission histogram and CPU time.
  record "webhook_cpu_s=$(cpu_seconds "$webhook_pid") log_lines=$(wc -l <"$TMP/serve.log")"
  stop "$webhook_pid"
  stop "$gofloor_pid"
  for pid in "${nginx_pids[@]}"; do stop "$pid"; done
  tail -n 3 "$TMP/serve.log" >"$OUT/serve.log.tail"
}

# --- Sweeper scale --------------------------------------------------------------------------
sweep() {
  for pods in $SWEEP_SIZES; do
    log "sweeper: loading $pods pods into the fake API server"
    local dir=$TMP/fake-$pods
    mkdir -p "$dir"
    "$BENCH_BIN/bench-fake-apiserver" --pods "$pods" --dir "$dir" >"$dir/stdout" 2>"$dir/stderr" &
    local fake_pid=$!
    PIDS+=("$fake_pid")
    local deadline=$((SECONDS + 600))
    until grep -q '^ready ' "$dir/stdout"; do
      kill -0 "$fake_pid" 2>/dev/null || { log "fake API server died: $(tail -3 "$dir/stderr")"; return 1; }
      ((SECONDS < deadline)) || { log "fake API server not ready after 600 s"; return 1; }
      sleep 0.5
    done
    local ready kubeconfig
    ready=$(grep '^ready ' "$dir/stdout")
    kubeconfig=$(echo "$ready" | tr ' ' '\n' | sed -n 's/^kubeconfig=//p')
    record "fake_apiserver $(echo "$ready" | cut -d' ' -f3-) fake_rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$fake_pid/status")"

    for round in $(seq "$SWEEP_ROUNDS"); do
      log "sweeper: stratum-guard sweep --once --dry-run, $pods pods, round $round"
      local before after status=0
      before=$(cpu_seconds "$fake_pid")
      timeout 600 /usr/bin/time -v -o "$OUT/sweep-$pods-$round.time" \
        "$BIN" sweep --once --dry-run --kubeconfig "$kubeconfig" \
        >"$OUT/sweep-$pods-$round.out" 2>"$TMP/sweep-$pods-$round.log" || status=$?
      after=$(cpu_seconds "$fake_pid")
      record "sweep impl=stratum-guard pods=$pods round=$round exit=$status $(time_fields "$OUT/sweep-$pods-$round.time") apiserver_cpu_s=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }') scanned=$(sed -n 's/^pods scanned: \([0-9]*\).*/\1/p' "$OUT/sweep-$pods-$round.out") matches=$(sed -n 's/^pods with a deny finding: //p' "$OUT/sweep-$pods-$round.out")"
      tail -n 5 "$TMP/sweep-$pods-$round.log" >"$OUT/sweep-$pods-$round.log.tail"
    done

    local limits_var=PY_LIMITS_$pods
    for limit in ${!limits_var:-$PY_LIMITS}; do
      log "sweeper: Python baseline, $pods pods, limit $limit (timeout ${PY_TIMEOUT}s)"
      local before after status=0
      before=$(cpu_seconds "$fake_pid")
      timeout "$PY_TIMEOUT" /usr/bin/time -v -o "$OUT/python-$pods-$limit.time" \
        $PYTHON "$ROOT/bench/python_baseline.py" --kubeconfig "$kubeconfig" --limit "$limit" \
        >"$OUT/python-$pods-$limit.out" 2>"$OUT/python-$pods-$limit.err" || status=$?
      after=$(cpu_seconds "$fake_pid")
      record "sweep impl=python pods=$pods limit=$limit exit=$status $(time_fields "$OUT/python-$pods-$limit.time") apiserver_cpu_s=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }') $(grep '^RESULT' "$OUT/python-$pods-$limit.out" | cut -d' ' -f2-)"
    done
    stop "$fake_pid"
  done
}

machine_info
build
for section in $SECTIONS; do
  case $section in
    micro) micro ;;
    https) https ;;
    sweep) sweep ;;
    *) log "unknown section $section (micro, https, sweep)"; exit 2 ;;
  esac
done
$PYTHON "$ROOT/bench/summarize.py" "$OUT" >"$OUT/summary.md"
log "done: $OUT/summary.md"
cat "$OUT/summary.md"
