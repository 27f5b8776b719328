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
