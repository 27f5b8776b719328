#!/usr/bin/env bash
# Builds stratum-guard's OCI image without a container engine running anything, and writes it as
# an OCI archive that `docker load`, `podman load`, `kind load image-archive` and `skopeo copy`
# accept:
#   1. mmdebstrap: a minimal Debian 12 root filesystem with image/runtime-packages;
#   2. buildah from scratch, add the root filesystem and the binary, config, commit;
#   3. podman save --format oci-archive.
#   image/build.sh BINARY ARCHIVE
# Environment: IMAGE (default ghcr.io/stratum-guard/stratum-guard:VERSION), DEBIAN_MIRROR
# (default: this machine's), SOURCE_URL. Needs root (mmdebstrap's root mode), mmdebstrap, buildah,
# podman (`make image-deps`). Buildah's storage is private to the run and removed afterwards.
set -euo pipefail

binary=${1:?usage: image/build.sh BINARY ARCHIVE}
archive=${2:?usage: image/build.sh BINARY ARCHIVE}
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "image/build.sh: $*" >&2; }
[[ -x $binary ]] || { log "no binary at $binary"; exit 2; }
for tool in mmdebstrap buildah podman; do
  command -v "$tool" >/dev/null || { log "$tool not found: run 'make image-deps'"; exit 2; }
done

# Version and revision are the binary's own (`--version` prints "0.1.0 (COMMIT)", the commit
# its build was configured at), so the annotations cannot disagree with what is in the image;
# the short commit is widened to the full one when this checkout knows it.
read -r version commit < <("$binary" --version | tr -d '()')
[[ -n $version && -n $commit ]] || { log "cannot read '$binary --version'"; exit 2; }
revision=$(git -C "$here" rev-parse --verify --quiet "$commit^{commit}" 2>/dev/null || echo "$commit")
image=${IMAGE:-ghcr.io/stratum-guard/stratum-guard:$version}
source_url=${SOURCE_URL:-https://github.com/stratum-guard/stratum-guard}
mirror=${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
packages=$(grep -v '^\s*\(#\|$\)' "$here/runtime-packages" | paste -sd, -)

work=$(mktemp -d "${TMPDIR:-/tmp}/stratum-guard-image.XXXXXX")
storage=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
container=""
cleanup() {
  [[ -z $container ]] || buildah "${storage[@]}" rm "$container" >/dev/null 2>&1 || true
  buildah "${storage[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# minbase is what debian:12-slim is: Essential packages and apt. Documentation, man pages and
# apt's lists are left out; they only make the image larger.
log "root filesystem: Debian 12 minbase + $packages"
mmdebstrap --quiet --mode=root --variant=minbase --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  bookworm "$work/rootfs.tar" "$mirror"

log "image $image (revision $revision)"
container=$(buildah "${storage[@]}" from scratch)
buildah "${storage[@]}" add --quiet "$container" "$work/rootfs.tar" /
install -D -m 0755 "$binary" "$work/bin/stratum-guard"
strip "$work/bin/stratum-guard" 2>/dev/null || true
buildah "${storage[@]}" copy --quiet --chmod 0755 "$container" "$work/bin/stratum-guard" /usr/local/bin/stratum-guard
# The same contract as the Dockerfile: a numeric non-root user (runAsNonRoot can verify it), the
# subcommand as the argument, serve by default.
buildah "${storage[@]}" config \
  --user 65532:65532 --workingdir / \
  --entrypoint '["stratum-guard"]' --cmd serve --port 8443 --port 9090 \
  --annotation "org.opencontainers.image.source=$source_url" \
  --annotation "org.opencontainers.image.revision=$revision" \
  --annotation "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.source=$source_url" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.version=$version" \
  "$container"
buildah "${storage[@]}" commit --quiet --format oci "$container" "$image" >/dev/null
mkdir -p "$(dirname "$archive")"
rm -f "$archive"
podman "${storage[@]}" save --quiet --format oci-archive -o "$archive" "$image"
log "wrote $archive ($(du -h "$archive" | cut -f1))"
