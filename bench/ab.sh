#!/usr/bin/env bash
# One lever measured side by side: bench/ab.sh BIN_A BIN_B [ROUNDS]
#
# Two `stratum-guard serve` processes (two builds, or one build with two sets of flags: A_FLAGS
# and B_FLAGS) serve at once on two loopback ports with the same certificate; wrk POSTs the
# typical review to each in turn, A then B, ROUNDS times (default 4), so that the VM's drift in
# speed hits both alike. Each round's server CPU (utime + stime from /proc) is divided by its
# requests. Prints one line per round and the medians, with B over A; then each server's
# resident memory per idle keep-alive connection (HOLD connections held open by bench-loadgen
# after one answered request each). docs/BENCHMARKS.md quotes it for every change to the
# request path.
#
# Knobs: DURATION=8 (seconds per wrk run), THREADS=2, CONNECTIONS=16, BODY=typical (a review of
# bench/reviews.cpp), HOLD=400 (0: no memory figure), A_FLAGS= and B_FLAGS= (more serve flags, e.g. --log-level warn), BENCH_BIN
# (default: the directory of BIN_A's bench/, for bench-reviews).
set -euo pipefail

A=$(realpath "${1:?usage: bench/ab.sh BIN_A BIN_B [ROUNDS]}")
B=$(realpath "${2:?usage: bench/ab.sh BIN_A BIN_B [ROUNDS]}")
ROUNDS=${3:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=/usr/bin/python3
DURATION=${DURATION:-8}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-16}
BODY=${BODY:-typical}
HOLD=${HOLD:-400}
BENCH_BIN=${BENCH_BIN:-$(dirname "$A")/bench}
TMP=$(mktemp -d /tmp/stratum-guard-ab.XXXXXX)
source "$ROOT/bench/lib.sh"

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

"$BENCH_BIN/bench-reviews" "$TMP" >/dev/null
make_cert "$TMP"
declare -A port pid
for side in A B; do
  flags_var=${side}_FLAGS
  port[$side]=$(free_port)
  # shellcheck disable=SC2086  # the flags are words
  "${!side}" serve --listen "127.0.0.1:${port[$side]}" --metrics-listen 127.0.0.1:0 \
    --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" ${!flags_var:-} \
    2>"$TMP/serve-$side.log" >/dev/null &
  pid[$side]=$!
  PIDS+=("${pid[$side]}")
  wait_https "${port[$side]}" 20
done

run_wrk() {  # run_wrk SIDE SECONDS -> wrk's RESULT line
  BODY_FILE=$TMP/$BODY.json WRK_PATH= timeout $(($2 + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" \
    -d"${2}s" -s "$ROOT/bench/wrk/post.lua" "https://127.0.0.1:${port[$1]}/validate" | grep '^RESULT'
}
for side in A B; do run_wrk "$side" 3 >/dev/null; done  # warm-up

declare -A cpus rpss
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    before=$(cpu_seconds "${pid[$side]}")
    result=$(run_wrk "$side" "$DURATION")
    # The server may still be answering what it read when wrk stopped: that CPU is this round's.
    after=$(cpu_seconds "${pid[$side]}")
    for _ in $(seq 25); do
      sleep 0.2
      now=$(cpu_seconds "${pid[$side]}")
      [[ $now == "$after" ]] && break
      after=$now
    done
    requests=$(tr ' ' '\n' <<<"$result" | sed -n 's/^requests=//p')
    rps=$(tr ' ' '\n' <<<"$result" | sed -n 's/^rps=//p')
    cpu=$(awk -v a="$after" -v b="$before" -v n="$requests" 'BEGIN { printf "%.2f", (a - b) * 1e6 / n }')
    echo "round $round $side: $rps requests/s, $cpu µs server CPU per request"
    cpus[$side]+="$cpu "
    rpss[$side]+="$rps "
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ca=$(median "${cpus[A]}") cb=$(median "${cpus[B]}") ra=$(median "${rpss[A]}") rb=$(median "${rpss[B]}")
echo "median A: $ra requests/s, $ca µs per request"
echo "median B: $rb requests/s, $cb µs per request"
awk -v ca="$ca" -v cb="$cb" -v ra="$ra" -v rb="$rb" \
  'BEGIN { printf "B / A: CPU per request %.3f, requests/s %.3f\n", cb / ca, rb / ra }'

((HOLD > 0)) || exit 0
for side in A B; do
  held_rss_kib "$BENCH_BIN/bench-loadgen" "${port[$side]}" "$TMP/$BODY.json" "$HOLD" "${pid[$side]}" |
    awk -v s="$side" -v n="$HOLD" \
      '{ printf "idle memory %s: %.1f KiB per connection (%d connections)\n", s, ($2 - $1) / n, n }'
done
