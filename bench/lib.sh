# Sourced by bench/run.sh and bench/profile.sh: the process bookkeeping both need. Every
# process a script starts goes into PIDS; on any exit it is stopped (SIGTERM, then SIGKILL after
# 5 s, so a process that ignores SIGTERM cannot keep the run alive) and $TMP is removed.
PIDS=()
cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# The helpers both scripts need to serve HTTPS; PYTHON must be Debian's python3.
free_port() {
  $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# wait_https PORT SECONDS: until GET /healthz (or /) answers over TLS.
wait_https() {
  local deadline=$((SECONDS + $2))
  until curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$1/healthz" ||
    curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$1/"; do
    ((SECONDS < deadline)) || { log "nothing answers on 127.0.0.1:$1"; return 1; }
    sleep 0.2
  done
}
# make_cert DIR: DIR/cert.pem and DIR/key.pem, self-signed P-256 for localhost/127.0.0.1.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
}
# nginx_conf DIR PORT WORKERS ANSWER_FILE ROOT: bench/nginx.conf rendered into DIR/nginx.conf,
# answering ANSWER_FILE's bytes, with the certificate made by make_cert in $TMP.
nginx_conf() {
  mkdir -p "$1"
  sed -e "s|@DIR@|$1|g" -e "s|@PORT@|$2|g" -e "s|@CERT@|$TMP/cert.pem|g" \
    -e "s|@KEY@|$TMP/key.pem|g" -e "s|@WORKERS@|$3|g" "$5/bench/nginx.conf" |
    $PYTHON -c 'import sys; print(sys.stdin.read().replace("@RESPONSE@", open(sys.argv[1]).read()), end="")' \
      "$4" >"$1/nginx.conf"
}
# Resident KiB of a process and its children (nginx's master and workers).
tree_rss_kib() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")))
  done
  echo "$total"
}
# held_rss_kib LOADGEN PORT BODY_FILE N PID: "BEFORE HELD", the resident KiB of PID (and its
# children) before and while N keep-alive TLS connections are held idle against PORT, one
# answered request each (bench-loadgen --hold, which exits once fd 9 closes, or after 120 s).
held_rss_kib() {
  local fifo out before held hold_pid deadline=$((SECONDS + 60))
  fifo=$(mktemp -u "$TMP/hold.XXXXXX")
  out=$fifo.out
  mkfifo "$fifo"
  before=$(tree_rss_kib "$5")
  "$1" --port "$2" --body "$3" --hold "$4" --duration 120 <"$fifo" >"$out" 2>"$out.err" &
  hold_pid=$!
  exec 9>"$fifo"
  until grep -q '^held ' "$out"; do
    if ! kill -0 "$hold_pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "bench-loadgen --hold $4 against port $2 did not hold them: $(cat "$out.err")"
      exec 9>&-
      return 1
    fi
    sleep 0.1
  done
  held=$(tree_rss_kib "$5")
  exec 9>&-
  wait "$hold_pid" || true
  echo "$before $held"
}
