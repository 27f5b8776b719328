#!/usr/bin/env bash
# Tests an image archive written by image/build.sh without a container runtime (none can run on
# the machines this is built on): reads its OCI manifest and config, unpacks its root filesystem
# and runs the binary in it with chroot, as the image's own user. A missing shared library, a
# wrong user or a wrong entrypoint then fails `make image`, not the first pod.
#   image/test.sh ARCHIVE
# Needs root (chroot), jq, curl, tar. Prints "N passed, N failed"; exits non-zero on a failure.
set -euo pipefail

archive=${1:?usage: image/test.sh ARCHIVE}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../test/e2e/lib.sh"
for tool in jq curl tar chroot; do
  command -v "$tool" >/dev/null || { echo "$tool not found: run 'make image-deps e2e-deps'"; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "image/test.sh needs root (chroot)"; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/stratum-guard-image-test.XXXXXX")
server_pid=""
cleanup() {
  stop_pid "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# 1. The archive is an OCI image layout: index -> manifest -> config and layers.
mkdir "$work/oci" "$work/rootfs"
tar -xf "$archive" -C "$work/oci" || die "$archive is not a tar archive"
blob() { echo "$work/oci/blobs/${1/://}"; }  # sha256:HEX -> blobs/sha256/HEX
[[ -f $work/oci/index.json && -f $work/oci/oci-layout ]] || die "no OCI layout in $archive"
manifest=$(blob "$(jq -r '.manifests[0].digest' "$work/oci/index.json")")
[[ -f $manifest ]] || die "the index names no manifest present in the archive"
config=$(blob "$(jq -r '.config.digest' "$manifest")")
[[ $(jq -r .mediaType "$manifest") == application/vnd.oci.image.manifest.v1+json ]] &&
  pass "OCI image manifest" || fail "manifest media type $(jq -r .mediaType "$manifest")"

# What a loader sees: skopeo reads the archive as docker load and registries do.
if command -v skopeo >/dev/null; then
  digest=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive" 2>"$work/skopeo.log") &&
    pass "skopeo reads the archive (manifest $digest)" || fail "skopeo cannot read $archive: $(cat "$work/skopeo.log")"
fi

# 2. The annotations (on the manifest, where registries show them) and the config's contract,
#    the same as the Dockerfile's.
for key in source revision version; do
  value=$(jq -r --arg k "org.opencontainers.image.$key" '.annotations[$k] // empty' "$manifest")
  [[ -n $value ]] && pass "annotation org.opencontainers.image.$key=$value" ||
    fail "no org.opencontainers.image.$key annotation on the manifest"
done
version=$(jq -r '.annotations["org.opencontainers.image.version"] // empty' "$manifest")
user=$(jq -r '.config.User // empty' "$config")
[[ $user == 65532:65532 ]] && pass "config User $user (numeric, non-root)" || fail "config User '$user'"
[[ $(jq -c '.config.Entrypoint' "$config") == '["stratum-guard"]' &&
   $(jq -c '.config.Cmd' "$config") == '["serve"]' ]] && pass "entrypoint stratum-guard, cmd serve" ||
  fail "entrypoint $(jq -c .config.Entrypoint "$config"), cmd $(jq -c .config.Cmd "$config")"

# 3. The root filesystem: the layers in order (images from scratch have no whiteouts to apply).
for digest in $(jq -r '.layers[].digest' "$manifest"); do
  tar -xf "$(blob "$digest")" -C "$work/rootfs" || die "layer $digest does not unpack"
done
rootfs=$work/rootfs
[[ -x $rootfs/usr/local/bin/stratum-guard ]] || die "no /usr/local/bin/stratum-guard in the image"
# A process started with the image's user and entrypoint, as a runtime would (PATH from Debian's
# default: a runtime sets the config's Env, which buildah leaves to the base).
# An array, not a function, so that a background start is the server's own PID (exec all the way).
in_image=(chroot --userspec="$user" "$rootfs" /usr/bin/env
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/)

revision=$(jq -r '.annotations["org.opencontainers.image.revision"] // empty' "$manifest")
out=$("${in_image[@]}" stratum-guard --version 2>&1) && read -r got_version got_commit < <(tr -d '()' <<<"$out") &&
  [[ $got_version == "$version" && -n $got_commit && $revision == "$got_commit"* ]] &&
  pass "stratum-guard --version in the image: $out, as annotated" ||
  fail "stratum-guard --version in the image printed '$out' (annotations: version '$version', revision '$revision')"
missing=$(chroot "$rootfs" /usr/bin/ldd /usr/local/bin/stratum-guard | grep 'not found' || true)
[[ -z $missing ]] && pass "every shared library resolves in the image" ||
  fail "missing in the image: $missing"
"${in_image[@]}" stratum-guard policy default >/dev/null && pass "the embedded policy compiles" ||
  fail "stratum-guard policy default failed in the image"

# 4. serve, as the image's user, answers one AdmissionReview over TLS. Its development
#    certificate is written to the image's /tmp, where the test reads the CA from outside.
"${in_image[@]}" stratum-guard serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
  --dev-cert-dir /tmp/dev-certs >"$work/serve.log" 2>&1 &
server_pid=$!
wait_for 30 reports_port "$work/serve.log" webhook ||
  die "serve did not report its webhook port in 30 s" "$work/serve.log"
port=$(listening_port "$work/serve.log" webhook)
wait_for 10 test -s "$rootfs/tmp/dev-certs/ca.pem" || die "no development CA written" "$work/serve.log"
uids=$(awk '/^Uid:/{print $2, $3, $4, $5}' "/proc/$server_pid/status")
[[ $uids == "65532 65532 65532 65532" ]] && pass "serve runs as uid 65532 (real, effective, saved, fs)" ||
  fail "serve runs with uids '$uids'"
reply=$(curl --silent --show-error --max-time 10 --cacert "$rootfs/tmp/dev-certs/ca.pem" \
  -H 'Content-Type: application/json' --data-binary @"$here/../examples/review-miner-deployment.json" \
  "https://localhost:$port/validate") || die "no answer over TLS on port $port" "$work/serve.log"
if [[ $(jq -r .response.allowed <<<"$reply") == false &&
      $(jq -r .response.status.message <<<"$reply") == *'rule miner-image'* ]]; then
  pass "the miner Deployment's AdmissionReview is denied over TLS"
else
  fail "unexpected answer: $(head -c 400 <<<"$reply")"
fi
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[[ $status == 0 ]] && pass "serve exits 0 on SIGTERM" || fail "serve exited $status on SIGTERM"

finish
