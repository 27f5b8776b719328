#!/usr/bin/env bash
# image/test.sh's error paths, with archives made here (no image build, no network): what it says
# about a file that is not an archive, an archive that is no OCI layout, and an image with the
# wrong user, no annotations and no binary. `make image` runs the passing path.
# Usage: image_test_errors_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: image_test_errors_test.sh SOURCE_DIR}
source "$src/test/e2e/lib.sh"
[[ $(id -u) == 0 ]] || { echo "needs root, as image/test.sh does: skipped"; exit 0; }
command -v jq >/dev/null || { echo "jq not found: run 'make e2e-deps'"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/image_test_errors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

expect() {  # expect NAME ARCHIVE TEXT...: image/test.sh fails on ARCHIVE and prints each TEXT
  local name=$1 archive=$2 out status=0
  shift 2
  out=$(bash "$src/image/test.sh" "$archive" 2>&1) || status=$?
  [[ $status != 0 ]] || { fail "$name: image/test.sh passed"; return; }
  for text in "$@"; do
    [[ $out == *"$text"* ]] || { fail "$name: no '$text' in: $out"; return; }
  done
  pass "$name"
}

echo "not a tar" >"$tmp/garbage.tar"
expect "a file that is not an archive" "$tmp/garbage.tar" "is not a tar archive"

mkdir "$tmp/empty" && echo x >"$tmp/empty/x" && tar -cf "$tmp/empty.tar" -C "$tmp/empty" x
expect "an archive without an OCI layout" "$tmp/empty.tar" "no OCI layout"

# An OCI layout whose config runs as root, with no annotations and an empty layer.
oci=$tmp/oci
mkdir -p "$oci/blobs/sha256" "$tmp/layer"
add_blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$oci/blobs/sha256/$d"; echo "sha256:$d"; }
tar -cf "$tmp/layer.tar" -C "$tmp/layer" .
layer=$(add_blob "$tmp/layer.tar")
jq -n '{architecture: "amd64", os: "linux", config: {User: "0:0", Entrypoint: ["sh"]}}' >"$tmp/config.json"
config=$(add_blob "$tmp/config.json")
jq -n --arg c "$config" --arg l "$layer" '{schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: 1},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: 1}]}' >"$tmp/manifest.json"
manifest=$(add_blob "$tmp/manifest.json")
jq -n --arg m "$manifest" '{schemaVersion: 2, manifests: [{mediaType:
  "application/vnd.oci.image.manifest.v1+json", digest: $m, size: 1}]}' >"$oci/index.json"
echo '{"imageLayoutVersion": "1.0.0"}' >"$oci/oci-layout"
tar -cf "$tmp/wrong.tar" -C "$oci" .
expect "an image with the wrong user, no annotations and no binary" "$tmp/wrong.tar" \
  "no org.opencontainers.image.revision annotation" "config User '0:0'" \
  "entrypoint [\"sh\"]" "no /usr/local/bin/stratum-guard in the image"

finish
