# Helpers shared by the shell drivers that run real processes: test/e2e/run.sh and image/test.sh.
# Sourced, not run. Every wait is on a condition, with a deadline; none is a fixed sleep.

e2e_passed=0
e2e_failed=0
pass() { e2e_passed=$((e2e_passed + 1)); echo "ok: $*"; }
fail() { e2e_failed=$((e2e_failed + 1)); echo "FAIL: $*"; }
# The closing line CI reads: "N passed, N failed".
finish() {
  echo "$e2e_passed passed, $e2e_failed failed"
  [[ $e2e_failed -eq 0 ]]
}
# Stops here, with the reason and FILE's last lines: what follows depends on this step.
die() {  # die MESSAGE [FILE]
  fail "$1"
  if [[ -n ${2:-} && -f $2 ]]; then tail -n 40 "$2" | sed 's/^/    | /'; fi
  finish
  exit 1
}

# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false when SECONDS pass first.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# The port a stratum-guard process reports in its "listening" log line for LISTENER (webhook or
# metrics), which is how a server started on port 0 is found. Empty while it has not said so.
listening_port() {  # listening_port LOGFILE LISTENER
  grep '"msg":"listening"' "$1" 2>/dev/null | grep "\"listener\":\"$2\"" | head -n1 |
    sed -n 's/.*"address":"[^"]*:\([0-9][0-9]*\)".*/\1/p'
}

# A zombie (exited, not yet reaped) counts as gone.
gone() {  # gone PID
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
  [[ $state == Z* ]]
}

# True once LOGFILE has the "listening" line of LISTENER.
reports_port() { [[ -n $(listening_port "$1" "$2") ]]; }

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL when it has not exited by then. Only the given
# PID is signalled: never a process found by name.
stop_pid() {
  local pid=$1 grace=${2:-10}
  [[ -n $pid ]] || return 0
  gone "$pid" || {
    kill -TERM "$pid" 2>/dev/null || true
    wait_for "$grace" gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  }
  wait "$pid" 2>/dev/null || true
}
