#!/usr/bin/env bash
# Makes the TLS material for the stratum-guard webhook with openssl: a private CA and a serving
# certificate for the webhook's Service, then writes everything `kubectl apply -k OUT` needs.
#
# Usage: certs/generate.sh [--service NAME] [--namespace NS] [--out DIR] [--days N]
#                          [--ca-days N] [--rotate-ca] [--overlay DIR]
#
# Written to OUT (default ./stratum-guard-certs):
#   ca.crt, ca.key         the CA (kept across runs; see "Re-running" below)
#   tls.crt, tls.key       the serving certificate and key, SANs NAME, NAME.NS, NAME.NS.svc,
#                          NAME.NS.svc.cluster.local (replaced on every run)
#   secret.yaml            a kubernetes.io/tls Secret NAME-tls in NS (tls.crt, tls.key, ca.crt)
#   ca-bundle.b64          the base64 CA bundle for the webhook's clientConfig.caBundle
#   webhook-ca-patch.yaml  a kustomize patch that puts that bundle into the webhook configuration
#   kustomization.yaml     an overlay of --overlay (default manifests/failure-policy-fail) plus the
#                          Secret and the patch: `kubectl apply -k OUT` installs everything
#
# Re-running (rotation): the CA is kept, so the caBundle the API server trusts does not change;
# the serving key and certificate are always replaced. Apply the new secret.yaml (or the whole
# overlay); the server reloads the mounted Secret without a restart.
# With --rotate-ca a new CA is made as well; the previous CA is kept as ca.previous.crt and the
# bundle holds both, so the API server trusts old and new serving certificates while the Secret
# update reaches the pods. Once every pod serves the new certificate, a plain re-run drops the old
# CA from the bundle (it writes only the current CA).
#
# The keys are written 0600. OUT holds private keys: do not commit it.
set -euo pipefail

readonly PROG="generate.sh"

usage() {
  cat <<'EOF'
Usage: certs/generate.sh [--service NAME] [--namespace NS] [--out DIR] [--days N]
                         [--ca-days N] [--rotate-ca] [--overlay DIR]

  --service NAME   Service name of the webhook (default: stratum-guard)
  --namespace NS   Namespace of the Service (default: stratum-guard)
  --out DIR        Where to write the files (default: ./stratum-guard-certs)
  --days N         Validity of the serving certificate in days (default: 365)
  --ca-days N      Validity of a newly made CA in days (default: 3650)
  --rotate-ca      Replace the CA too (the bundle trusts old and new CA for the changeover)
  --overlay DIR    Kustomize overlay the generated kustomization.yaml builds on
                   (default: manifests/failure-policy-fail next to this script)
  -h, --help       Show this help

Re-running keeps the CA and replaces the serving key and certificate.
EOF
}

die() {
  echo "${PROG}: $*" >&2
  exit 1
}

usage_error() {
  echo "${PROG}: $*" >&2
  usage >&2
  exit 2
}

# Checked before anything else so that the message is the first and only thing a user without
# openssl sees.
if ! command -v openssl >/dev/null 2>&1; then
  die "openssl not found in PATH. Install it (Debian/Ubuntu: apt-get install openssl; macOS: brew install openssl) or use the cert-manager overlay (manifests/cert-manager) instead."
fi

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
service="stratum-guard"
namespace="stratum-guard"
out="./stratum-guard-certs"
days=365
ca_days=3650
rotate_ca=0
overlay="${script_dir}/../manifests/failure-policy-fail"

need_value() {
  [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || usage_error "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --service) need_value "$@"; service="$2"; shift 2 ;;
    --namespace) need_value "$@"; namespace="$2"; shift 2 ;;
    --out) need_value "$@"; out="$2"; shift 2 ;;
    --days) need_value "$@"; days="$2"; shift 2 ;;
    --ca-days) need_value "$@"; ca_days="$2"; shift 2 ;;
    --overlay) need_value "$@"; overlay="$2"; shift 2 ;;
    --rotate-ca) rotate_ca=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument: $1" ;;
  esac
done

# DNS-1123 labels: a Service or Namespace name outside this would give a certificate that no
# client could ever match.
dns_label='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
[[ "$service" =~ $dns_label ]] || usage_error "--service '$service' is not a valid DNS-1123 label"
[[ "$namespace" =~ $dns_label ]] || usage_error "--namespace '$namespace' is not a valid DNS-1123 label"
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--days '$days' is not a positive number of days"
[[ "$ca_days" =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--ca-days '$ca_days' is not a positive number of days"
[[ -d "$overlay" ]] || die "--overlay '$overlay' is not a directory"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
overlay="$(cd "$overlay" && pwd)"

# Everything is built in a scratch directory inside OUT and moved into place at the end, so an
# interrupted run never leaves a key that does not match its certificate.
work="$(mktemp -d "${out}/.generate.XXXXXX")"
trap 'rm -rf "$work"' EXIT
umask 077

dns_names=("$service" "$service.$namespace" "$service.$namespace.svc"
           "$service.$namespace.svc.cluster.local")

have_ca=0
if [[ -f "$out/ca.crt" || -f "$out/ca.key" ]]; then
  [[ -f "$out/ca.crt" && -f "$out/ca.key" ]] ||
    die "$out has only one of ca.crt and ca.key; restore the other or pass --rotate-ca"
  openssl x509 -in "$out/ca.crt" -noout >/dev/null 2>&1 || die "$out/ca.crt is not a certificate"
  have_ca=1
fi

if [[ $have_ca -eq 0 || $rotate_ca -eq 1 ]]; then
  cat >"$work/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = ${service}-ca
O = stratum-guard
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days "$ca_days" -config "$work/ca.cnf" -keyout "$work/ca.key" -out "$work/ca.crt" \
    2>"$work/openssl.log" || die "making the CA failed: $(cat "$work/openssl.log")"
  if [[ $have_ca -eq 1 ]]; then
    cp "$out/ca.crt" "$work/ca.previous.crt"
    echo "${PROG}: made a new CA; the previous one is kept in ca.previous.crt and stays in the bundle" >&2
  else
    echo "${PROG}: made a new CA" >&2
  fi
else
  cp "$out/ca.crt" "$work/ca.crt"
  cp "$out/ca.key" "$work/ca.key"
  echo "${PROG}: kept the existing CA ($out/ca.crt)" >&2
fi

san=""
for name in "${dns_names[@]}"; do san+="${san:+, }DNS:${name}"; done
cat >"$work/tls.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ${service}.${namespace}.svc
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -config "$work/tls.cnf" -keyout "$work/tls.key" -out "$work/tls.csr" \
  2>"$work/openssl.log" || die "making the serving key failed: $(cat "$work/openssl.log")"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
  -set_serial "0x$(openssl rand -hex 16)" -days "$days" \
  -extfile "$work/tls.cnf" -extensions v3_server -out "$work/tls.crt" \
  2>"$work/openssl.log" || die "signing the serving certificate failed: $(cat "$work/openssl.log")"
openssl verify -CAfile "$work/ca.crt" "$work/tls.crt" >/dev/null 2>"$work/openssl.log" ||
  die "the new serving certificate does not verify: $(cat "$work/openssl.log")"

# The bundle the API server trusts: the current CA, plus the previous one during a CA rotation.
cp "$work/ca.crt" "$work/bundle.pem"
[[ -f "$work/ca.previous.crt" ]] && cat "$work/ca.previous.crt" >>"$work/bundle.pem"

b64() { openssl base64 -A -in "$1"; }
ca_bundle="$(b64 "$work/bundle.pem")"
printf '%s\n' "$ca_bundle" >"$work/ca-bundle.b64"

cat >"$work/secret.yaml" <<EOF
# Generated by certs/generate.sh: the webhook's serving certificate. Holds a private key.
apiVersion: v1
kind: Secret
metadata:
  name: ${service}-tls
  namespace: ${namespace}
  labels:
    app.kubernetes.io/name: stratum-guard
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$work/tls.crt")
  tls.key: $(b64 "$work/tls.key")
  ca.crt: $(b64 "$work/ca.crt")
EOF

cat >"$work/webhook-ca-patch.yaml" <<EOF
# Generated by certs/generate.sh: the CA bundle the API server uses to verify the webhook.
- op: add
  path: /webhooks/0/clientConfig/caBundle
  value: ${ca_bundle}
EOF

# kustomize accepts only relative paths to other kustomizations.
relpath() {  # relpath FROM_DIR TO_DIR, both absolute
  local from="$1" to="$2" up="" rest result
  while [[ "$from" != "/" && "$to" != "$from" && "$to" != "$from/"* ]]; do
    from="$(dirname "$from")"
    up="../$up"
  done
  if [[ "$from" == "/" ]]; then rest="${to#/}"; else rest="${to#"$from"}"; rest="${rest#/}"; fi
  result="${up}${rest}"
  result="${result%/}"
  echo "${result:-.}"
}
overlay_ref="$(relpath "$out" "$overlay")"
cat >"$work/kustomization.yaml" <<EOF
# Generated by certs/generate.sh: ${overlay_ref} plus this directory's certificate.
# Install or update with: kubectl apply -k ${out}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${overlay_ref}
  - secret.yaml
patches:
  - path: webhook-ca-patch.yaml
    target:
      group: admissionregistration.k8s.io
      kind: ValidatingWebhookConfiguration
EOF

chmod 600 "$work/ca.key" "$work/tls.key" "$work/secret.yaml"
chmod 644 "$work/ca.crt" "$work/tls.crt" "$work/ca-bundle.b64" "$work/webhook-ca-patch.yaml" \
  "$work/kustomization.yaml"
rm -f "$out/ca.previous.crt"
files=(ca.crt ca.key tls.crt tls.key secret.yaml ca-bundle.b64 webhook-ca-patch.yaml kustomization.yaml)
[[ -f "$work/ca.previous.crt" ]] && files+=(ca.previous.crt)
for f in "${files[@]}"; do mv -f "$work/$f" "$out/$f"; done

expiry="$(openssl x509 -in "$out/tls.crt" -noout -enddate | cut -d= -f2)"
echo "${PROG}: wrote a serving certificate for ${dns_names[*]} (expires ${expiry}) to ${out}" >&2
if [[ "$service" != "stratum-guard" || "$namespace" != "stratum-guard" ]]; then
  # The shipped manifests name the Service and namespace stratum-guard: the Secret and certificate
  # made here fit only manifests changed to the same names.
  echo "${PROG}: note: manifests/ uses Service stratum-guard in namespace stratum-guard;" \
    "kubectl apply -k ${out} needs an --overlay that uses ${service} in ${namespace}" >&2
else
  echo "${PROG}: install or update with: kubectl apply -k ${out}" >&2
fi
