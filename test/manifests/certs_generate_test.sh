#!/usr/bin/env bash
# certs/generate.sh on its own: the certificate's SANs and chain, the Secret manifest and the CA
# bundle, rotation (CA kept, serving key replaced; --rotate-ca bundles old and new CA), bad flags
# and a PATH without openssl.
# Usage: certs_generate_test.sh SOURCE_DIR
set -euo pipefail

src="${1:?usage: certs_generate_test.sh SOURCE_DIR}"
gen="$src/certs/generate.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/manifests_certs_generate.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
check() {  # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}

if ! command -v openssl >/dev/null 2>&1; then
  echo "openssl not found: cannot test certs/generate.sh"
  exit 1
fi

fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
key_hash() { openssl pkey -in "$1" -pubout | openssl sha256 | awk '{print $NF}'; }

# --- a first run with custom names ---------------------------------------------------------------
out="$tmp/certs"
if bash "$gen" --service hook --namespace guard --out "$out" --days 30 >"$tmp/log" 2>&1; then
  pass "first run succeeds"
else
  fail "first run failed: $(cat "$tmp/log")"
  echo "$passed passed, $failed failed"
  exit 1
fi

check "custom names come with a note about the shipped manifests" \
  grep -q "needs an --overlay that uses hook in guard" "$tmp/log"
for f in ca.crt ca.key tls.crt tls.key secret.yaml ca-bundle.b64 webhook-ca-patch.yaml kustomization.yaml; do
  check "writes $f" test -s "$out/$f"
done
check "keys are private (0600)" test "$(stat -c %a "$out/tls.key")$(stat -c %a "$out/ca.key")" = 600600

sans="$(openssl x509 -in "$out/tls.crt" -noout -ext subjectAltName)"
for name in hook hook.guard hook.guard.svc hook.guard.svc.cluster.local; do
  check "SAN DNS:$name" grep -q "DNS:$name\(,\|$\)" <<<"$sans"
done
check "serving certificate is not a CA" \
  grep -q "CA:FALSE" <<<"$(openssl x509 -in "$out/tls.crt" -noout -ext basicConstraints)"
check "serving certificate is for server auth" \
  grep -q "TLS Web Server Authentication" <<<"$(openssl x509 -in "$out/tls.crt" -noout -ext extendedKeyUsage)"
check "serving certificate verifies against the CA" \
  openssl verify -CAfile "$out/ca.crt" "$out/tls.crt"
check "serving certificate matches its key" test "$(key_hash "$out/tls.key")" = \
  "$(openssl x509 -in "$out/tls.crt" -noout -pubkey | openssl sha256 | awk '{print $NF}')"
# --days 30: expires within 31 days, not within 29.
# (-checkend N succeeds when the certificate is still valid N seconds from now.)
check "--days 30 lasts past 29 days" openssl x509 -in "$out/tls.crt" -noout -checkend $((29 * 86400))
if openssl x509 -in "$out/tls.crt" -noout -checkend $((31 * 86400)) >/dev/null; then
  fail "--days 30 is still valid after 31 days"
else
  pass "--days 30 expires within 31 days"
fi

check "bundle is the base64 CA" \
  cmp -s <(openssl base64 -d -A -in "$out/ca-bundle.b64") "$out/ca.crt"
check "patch carries the bundle" grep -q "value: $(cat "$out/ca-bundle.b64")" "$out/webhook-ca-patch.yaml"
check "secret is kubernetes.io/tls" grep -q "^type: kubernetes.io/tls$" "$out/secret.yaml"
check "secret is named after the service" grep -q "^  name: hook-tls$" "$out/secret.yaml"
check "secret is in the namespace" grep -q "^  namespace: guard$" "$out/secret.yaml"
secret_crt="$(awk '/^  tls.crt: /{print $2}' "$out/secret.yaml")"
check "secret's tls.crt is the certificate" \
  cmp -s <(printf '%s' "$secret_crt" | openssl base64 -d -A) "$out/tls.crt"
secret_key="$(awk '/^  tls.key: /{print $2}' "$out/secret.yaml")"
check "secret's tls.key is the key" \
  cmp -s <(printf '%s' "$secret_key" | openssl base64 -d -A) "$out/tls.key"
check "no scratch directory left behind" test -z "$(find "$out" -name '.generate.*')"

# --- re-running rotates the serving certificate and keeps the CA ---------------------------------
ca_before="$(fingerprint "$out/ca.crt")"
tls_before="$(fingerprint "$out/tls.crt")"
key_before="$(key_hash "$out/tls.key")"
bundle_before="$(cat "$out/ca-bundle.b64")"
check "re-run succeeds" bash "$gen" --service hook --namespace guard --out "$out" --days 30
check "re-run keeps the CA" test "$(fingerprint "$out/ca.crt")" = "$ca_before"
check "re-run keeps the bundle" test "$(cat "$out/ca-bundle.b64")" = "$bundle_before"
check "re-run replaces the serving certificate" test "$(fingerprint "$out/tls.crt")" != "$tls_before"
check "re-run replaces the serving key" test "$(key_hash "$out/tls.key")" != "$key_before"
check "rotated certificate verifies against the kept CA" \
  openssl verify -CAfile "$out/ca.crt" "$out/tls.crt"

# --- --rotate-ca: new CA, bundle trusts both; a plain run afterwards drops the old one -----------
check "--rotate-ca succeeds" bash "$gen" --service hook --namespace guard --out "$out" --rotate-ca
check "--rotate-ca replaces the CA" test "$(fingerprint "$out/ca.crt")" != "$ca_before"
check "--rotate-ca keeps the old CA aside" test "$(fingerprint "$out/ca.previous.crt")" = "$ca_before"
openssl base64 -d -A -in "$out/ca-bundle.b64" >"$tmp/bundle.pem"
check "bundle holds two CAs during a CA rotation" test "$(grep -c 'BEGIN CERTIFICATE' "$tmp/bundle.pem")" = 2
check "bundle holds the old CA" grep -qF "$(sed -n 2p "$out/ca.previous.crt")" "$tmp/bundle.pem"
check "new serving certificate verifies against the bundle" \
  openssl verify -CAfile "$tmp/bundle.pem" "$out/tls.crt"
check "plain run after a CA rotation succeeds" bash "$gen" --service hook --namespace guard --out "$out"
check "plain run drops the old CA" test ! -e "$out/ca.previous.crt"
check "plain run bundles one CA" \
  test "$(openssl base64 -d -A -in "$out/ca-bundle.b64" | grep -c 'BEGIN CERTIFICATE')" = 1

# --- a CA without its key is refused, not silently replaced --------------------------------------
half="$tmp/half"
mkdir -p "$half"
cp "$out/ca.crt" "$half/ca.crt"
if bash "$gen" --out "$half" >"$tmp/log" 2>&1; then
  fail "a CA without its key was accepted"
else
  check "a CA without its key is a clear error" grep -q "only one of ca.crt and ca.key" "$tmp/log"
fi

# --- bad flags: usage, exit 2, nothing written ---------------------------------------------------
for args in "--bogus" "--days" "--days abc" "--days 0" "--service Bad_Name" "--namespace -x" "extra"; do
  # shellcheck disable=SC2086
  if bash "$gen" --out "$tmp/bad" $args >"$tmp/log" 2>&1; then
    fail "'$args' was accepted"
  else
    rc=$?
    check "'$args' exits 2" test "$rc" = 2
    check "'$args' prints usage" grep -q "^Usage: certs/generate.sh" "$tmp/log"
  fi
done
check "bad flags write nothing" test ! -e "$tmp/bad"
check "--help exits 0 with usage" bash -c "bash '$gen' --help | grep -q '^Usage:'"

# --- no openssl: a clear error before anything else ----------------------------------------------
# A PATH with the usual tools but no openssl.
nobin="$tmp/bin"
mkdir -p "$nobin"
for tool in mkdir mktemp cat cp mv rm chmod cut dirname; do
  p="$(command -v "$tool")" && ln -s "$p" "$nobin/$tool"
done
bash_path="$(command -v bash)"
if PATH="$nobin" "$bash_path" "$gen" --out "$tmp/nossl" >"$tmp/log" 2>&1; then
  fail "ran without openssl"
else
  rc=$?
  check "missing openssl exits 1" test "$rc" = 1
  check "missing openssl says so" grep -q "openssl not found in PATH" "$tmp/log"
  check "missing openssl names the alternative" grep -q "cert-manager" "$tmp/log"
  check "missing openssl writes nothing" test ! -e "$tmp/nossl"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
