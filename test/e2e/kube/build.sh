#!/usr/bin/env bash
# Builds kube-apiserver v1.20.2 once, offline, from Debian 12's `kubernetes` source package (its
# orig tarball ships vendor/) with Debian's Go 1.19, and caches it outside any build directory so
# that a rebuild of the project, or a fresh clone, reuses it.
#   test/e2e/kube/build.sh          prints the binary's path; builds it first when it is missing
# Needs golang-1.19 and golang-github-modern-go-reflect2-dev (`make e2e-deps` installs them) and
# Debian's package servers (deb-src, through a private apt list: the system's apt config is left
# alone). About 1 minute to fetch and 7-9 minutes to build on 2 cores.
# Environment: STRATUM_GUARD_KUBE_CACHE (default $HOME/.cache/stratum-guard/kube).
set -euo pipefail

readonly kVersion=1.20.2
readonly kDebVersion=1.20.5+really1.20.2-1.1+deb12u1
readonly kOrig=kubernetes_1.20.5+really1.20.2.orig.tar.gz
readonly kOrigSha256=b83c0780efb182d928dc63d46488a847f161f04e40a94b96bf5247dd671ecdfc
# The upstream commit of v1.20.2, so that `kube-apiserver --version` and /version tell the truth.
readonly kGitCommit=faecb196815e248d3ecfb03c680a4507229c2a56

cache=${STRATUM_GUARD_KUBE_CACHE:-$HOME/.cache/stratum-guard/kube}
root=$cache/v$kVersion
bin=$root/bin/kube-apiserver
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi
log() { echo "kube/build.sh: $*" >&2; }
for need in /usr/lib/go-1.19/bin/go /usr/share/gocode/src/github.com/modern-go/reflect2/reflect2.go; do
  [[ -e $need ]] || { log "$need is missing: run 'make e2e-deps' first"; exit 2; }
done
mkdir -p "$root"/{apt/lists/partial,debsrc,bin,logs}

# 1. The source, checked against its sha256. A private source list keeps the system's apt
#    configuration as it was; the mirror is the one this machine already uses.
cd "$root/debsrc"
if ! echo "$kOrigSha256  $kOrig" | sha256sum -c --status 2>/dev/null; then
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
    >"$root/apt/src.list"
  apt_opts=(-o "Dir::Etc::SourceList=$root/apt/src.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$root/apt/lists")
  log "fetching the kubernetes $kDebVersion source package"
  apt-get "${apt_opts[@]}" -qq update
  apt-get "${apt_opts[@]}" -qq source --download-only "kubernetes=$kDebVersion" >&2
  echo "$kOrigSha256  $kOrig" | sha256sum -c >&2
fi
src=$root/gopath/src/k8s.io/kubernetes
if [[ ! -d $src/cmd/kube-apiserver ]]; then
  rm -rf "$root/gopath/src/k8s.io" && mkdir -p "$root/gopath/src/k8s.io"
  tar xzf "$root/debsrc/$kOrig" -C "$root/gopath/src/k8s.io"
  mv "$root/gopath/src/k8s.io/kubernetes-$kVersion" "$src"
  # Go 1.18 and later need reflect2 1.0.2; Kubernetes 1.20 vendors 1.0.1 (it panics at start-up).
  # Debian packages 1.0.2's source.
  r=$src/vendor/github.com/modern-go/reflect2
  rm -f "$r"/*.go "$r"/*.s
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
     /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r/"
fi

# 2. Kubernetes 1.20 builds in GOPATH mode, as Debian's own rules build it; nothing is fetched.
export PATH=/usr/lib/go-1.19/bin:$PATH
export GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local GOSUMDB=off CGO_ENABLED=0
export GOPATH=$root/gopath GOCACHE=$root/go-build
cd "$src"

# 3. The OpenAPI definitions, which `make generated_files` would write (the tarball lacks them),
#    from the same package selection as Makefile.generated_files.
out=pkg/generated/openapi/zz_generated.openapi.go
if [[ ! -f $out ]]; then
  log "generating the OpenAPI definitions"
  go build -o "$root/bin/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
  dirs=$(find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o -type f \
           -name '*.go' -print | sed 's|^./staging/src|vendor|; s|/[^/]*$||; s|^./||' | LC_ALL=C sort -u)
  tagfiles=$(for d in $dirs; do find "$d" -maxdepth 1 -type f -name '*.go'; done |
             xargs grep -l '^// *+k8s:' |
             grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/')
  inputs=$(grep -l '+k8s:openapi-gen=' $tagfiles | xargs -n1 dirname | LC_ALL=C sort -u |
           sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
  "$root/bin/openapi-gen" --logtostderr -i "$inputs" -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$root/logs/openapi-violations.report" 2>"$root/logs/openapi-gen.log"
fi

# 4. The binary. Built to a temporary name, so an interrupted build never leaves a broken cache.
log "building kube-apiserver v$kVersion (7-9 minutes on 2 cores)"
ldflags="-s -w"
for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
         k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=v$kVersion -X $p.gitMajor=1 -X $p.gitMinor=20"
  ldflags+=" -X $p.gitCommit=$kGitCommit -X $p.gitTreeState=clean"
done
go build -ldflags "$ldflags" -o "$bin.tmp" ./cmd/kube-apiserver
mv "$bin.tmp" "$bin"
# The source and the Go build cache are 1.5 GB and no longer needed; the tarball stays for a rebuild.
rm -rf "$root/gopath" "$root/go-build"
log "built $bin"
echo "$bin"
