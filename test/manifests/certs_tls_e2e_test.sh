#!/usr/bin/env bash
# End to end: certs/generate.sh makes the certificate, the real server serves it, and a TLS client
# that trusts only the generated CA and checks the Service's DNS name (as the API server does)
# gets through; clients with another CA or another name do not. Then a rotation the way the
# kubelet updates a mounted Secret (new files, atomic ..data symlink swap): the server picks up the
# new certificate and the same CA bundle still verifies it.
# Usage: certs_tls_e2e_test.sh SOURCE_DIR STRATUM_GUARD_BINARY
set -euo pipefail

src="${1:?usage: certs_tls_e2e_test.sh SOURCE_DIR BINARY}"
bin="${2:?usage: certs_tls_e2e_test.sh SOURCE_DIR BINARY}"
gen="$src/certs/generate.sh"
readonly host="stratum-guard.stratum-guard.svc"

for tool in openssl curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found: cannot run this test"; exit 1; }
done
[[ -x "$bin" ]] || { echo "no stratum-guard binary at $bin"; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/manifests_tls_e2e.XXXXXX")"
server_pid=""
# The server is stopped on every way out of this script, and never outlives it.
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() { echo "$passed passed, $failed failed"; [[ $failed -eq 0 ]]; exit $?; }

# Certificates for the default Service, and a second, unrelated CA.
bash "$gen" --out "$tmp/certs" >"$tmp/gen.log" 2>&1 || { cat "$tmp/gen.log"; fail "generate.sh"; finish; }
bash "$gen" --out "$tmp/other" >/dev/null 2>&1 || { fail "generate.sh (second CA)"; finish; }

# A Secret volume as the kubelet lays it out: files are symlinks through ..data to a timestamped
# directory, and an update swaps ..data in one rename.
mount="$tmp/mount"
mkdir -p "$mount/..v1"
cp "$tmp/certs/tls.crt" "$tmp/certs/tls.key" "$mount/..v1/"
ln -s ..v1 "$mount/..data"
ln -s ..data/tls.crt "$mount/tls.crt"
ln -s ..data/tls.key "$mount/tls.key"

"$bin" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --tls-cert "$mount/tls.crt" --tls-key "$mount/tls.key" >"$tmp/stdout.log" 2>"$tmp/stderr.log" &
server_pid=$!

# The port comes from the server's log line {"msg":"listening","listener":"webhook",...}.
port=""
for _ in $(seq 200); do
  line="$(grep '"msg":"listening"' "$tmp/stderr.log" | grep '"listener":"webhook"' | head -n1 || true)"
  if [[ -n "$line" ]]; then
    port="$(sed -n 's/.*"address":"127\.0\.0\.1:\([0-9][0-9]*\)".*/\1/p' <<<"$line")"
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port" ]]; then
  fail "the server did not report its webhook port within 20s. stderr:"
  sed 's/^/  /' "$tmp/stderr.log" | head -n 40
  finish
fi
pass "server listening on 127.0.0.1:$port"

# curl that connects to 127.0.0.1 but verifies the certificate for NAME, as the API server does
# for https://NAME:PORT.
get() {  # get NAME CAFILE PATH -> prints the HTTP status; curl's exit code is the function's
  local name="$1" ca="$2" path="$3"
  curl --silent --show-error --max-time 5 --cacert "$ca" \
    --resolve "$name:$port:127.0.0.1" -o /dev/null -w '%{http_code}' "https://$name:$port$path"
}

expect_status() {  # expect_status WHAT WANT NAME CAFILE PATH
  local what="$1" want="$2" got rc=0
  got="$(get "$3" "$4" "$5" 2>"$tmp/curl.err")" || rc=$?
  if [[ $rc -eq 0 && "$got" == "$want" ]]; then
    pass "$what"
  else
    fail "$what: curl exit $rc, HTTP $got: $(cat "$tmp/curl.err")"
  fi
}

# curl exits 60 when it cannot verify the peer: unknown CA or a name the certificate lacks.
expect_rejected() {  # expect_rejected WHAT NAME CAFILE
  local rc=0
  get "$2" "$3" /healthz >/dev/null 2>"$tmp/curl.err" || rc=$?
  if [[ $rc -eq 60 ]]; then
    pass "$1"
  else
    fail "$1: curl exit $rc (want 60, certificate not verified): $(cat "$tmp/curl.err")"
  fi
}

expect_status "/healthz over TLS, trusting only the generated CA, verifying $host" 200 \
  "$host" "$tmp/certs/ca.crt" /healthz
expect_status "/readyz likewise" 200 "$host" "$tmp/certs/ca.crt" /readyz
expect_status "the generated bundle (ca-bundle.b64) verifies the server" 200 \
  "$host" <(openssl base64 -d -A -in "$tmp/certs/ca-bundle.b64") /healthz
for name in stratum-guard.stratum-guard stratum-guard.stratum-guard.svc.cluster.local; do
  expect_status "the certificate also covers $name" 200 "$name" "$tmp/certs/ca.crt" /healthz
done
expect_rejected "a client trusting another CA is refused" "$host" "$tmp/other/ca.crt"
expect_rejected "a client trusting only the system CAs is refused" "$host" /etc/ssl/certs/ca-certificates.crt
expect_rejected "a name outside the certificate is refused" "other.stratum-guard.svc" "$tmp/certs/ca.crt"

# --- rotation: re-run generate.sh, update the "mounted Secret" atomically ------------------------
served_fingerprint() {
  openssl s_client -connect "127.0.0.1:$port" -servername "$host" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}
old_fp="$(openssl x509 -in "$tmp/certs/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)"
if [[ "$(served_fingerprint)" == "$old_fp" ]]; then
  pass "serves the generated certificate"
else
  fail "does not serve the generated certificate"
fi

bash "$gen" --out "$tmp/certs" >/dev/null 2>&1 || fail "generate.sh re-run"
new_fp="$(openssl x509 -in "$tmp/certs/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)"
[[ "$new_fp" != "$old_fp" ]] && pass "re-run made a new serving certificate" ||
  fail "re-run kept the serving certificate"
mkdir -p "$mount/..v2"
cp "$tmp/certs/tls.crt" "$tmp/certs/tls.key" "$mount/..v2/"
ln -s ..v2 "$mount/..data_tmp"
mv -T "$mount/..data_tmp" "$mount/..data"
rm -rf "$mount/..v1"

reloaded=0
for _ in $(seq 100); do  # up to ~20s: the server may poll the files
  if [[ "$(served_fingerprint)" == "$new_fp" ]]; then reloaded=1; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if [[ $reloaded -eq 1 ]]; then
  pass "the server serves the rotated certificate without a restart"
else
  fail "the server still serves the old certificate 20s after the Secret update"
fi
expect_status "the unchanged CA bundle verifies the rotated certificate" 200 \
  "$host" "$tmp/certs/ca.crt" /healthz

# --- graceful stop ------------------------------------------------------------------------------
kill -TERM "$server_pid"
rc=""
for _ in $(seq 200); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" && rc=0 || rc=$?
    break
  fi
  sleep 0.1
done
server_pid_done="$server_pid"
if [[ "$rc" == "0" ]]; then
  server_pid=""
  pass "SIGTERM stops the server with exit 0"
elif [[ -z "$rc" ]]; then
  fail "the server ($server_pid_done) did not stop within 20s of SIGTERM"
else
  server_pid=""
  fail "the server exited $rc on SIGTERM"
fi

finish
