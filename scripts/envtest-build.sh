#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd for kubevisor's envtest tier (`npm run
# envtest:build`), from Go modules only: k8s.io/kubernetes (testing/envtest/go.mod) and
# go.etcd.io/etcd/server/v3 (testing/envtest/etcd/go.mod), fetched through the Go module
# proxy. No Docker, no release downloads.
#
# Output: ${KUBEVISOR_CACHE:-~/.cache/kubevisor}/envtest/<k8s-version>/{kube-apiserver,kube-controller-manager,etcd}
# A binary that is already there and answers `--version` with the pinned version is kept,
# so only the first run on a machine pays for the build (about 5 minutes cold on 2 cores for
# etcd + kube-apiserver, about 5 more for kube-controller-manager; see the README).
#
# Go's module and build caches live under ${KUBEVISOR_CACHE}/envtest/go/ unless GOMODCACHE /
# GOCACHE are set, so `rm -rf ~/.cache/kubevisor/envtest` resets everything.
#
# Environment:
#   KUBEVISOR_CACHE         cache root (default ~/.cache/kubevisor)
#   KUBEVISOR_ENVTEST_FORCE set to 1 to rebuild even when the binaries are there
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/testing/envtest"
cache="${KUBEVISOR_CACHE:-$HOME/.cache/kubevisor}"

command -v go >/dev/null 2>&1 || {
  echo "envtest-build: Go is not installed (need Go >= 1.24 with access to the Go module proxy)" >&2
  exit 2
}

# required_version <module> <go.mod>: the version a go.mod requires (block or single line).
required_version() {
  awk -v m="$1" '$1 == "replace" || $1 == ")" { inrep = 0 } /^replace \(/ { inrep = 1; next }
    !inrep { for (i = 1; i < NF; i++) if ($i == m && $(i + 1) ~ /^v/) { print $(i + 1); exit } }' "$2"
}
k8s_version=$(required_version k8s.io/kubernetes "$src/go.mod")
etcd_version=$(required_version go.etcd.io/etcd/server/v3 "$src/etcd/go.mod")
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || {
  echo "envtest-build: cannot read the pinned versions from $src/go.mod and $src/etcd/go.mod" >&2
  exit 1
}
dest="$cache/envtest/$k8s_version"
mkdir -p "$dest"

export GOMODCACHE="${GOMODCACHE:-$cache/envtest/go/mod}"
export GOCACHE="${GOCACHE:-$cache/envtest/go/build}"
# -mod=mod: go.sum is committed, but let go fill in anything a newer Go wants to record.
# -modcacherw: keeps the module cache deletable with plain rm -rf.
export GOFLAGS="-mod=mod -modcacherw"
export CGO_ENABLED=0

started=$SECONDS
log() { printf 'envtest-build [%4ds] %s\n' "$((SECONDS - started))" "$*"; }

# has_version <binary> <expected substring of --version>
has_version() {
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qF -- "$2"
}

# build <name> <module dir> <package> <output> [go build flags...]
# Runs `go build -v` in the background and prints a progress line every 30 s: the count of
# packages compiled so far against the package's dependency count.
build() {
  local name=$1 dir=$2 pkg=$3 out=$4
  shift 4
  local buildlog="$dest/$name.build.log"
  log "$name: downloading modules (go mod download)"
  (cd "$dir" && go mod download)
  local total
  total=$(cd "$dir" && go list -deps "$pkg" | wc -l)
  log "$name: compiling $pkg ($total packages incl. the standard library; -v log: $buildlog)"
  local t0=$SECONDS
  (cd "$dir" && exec go build -v -trimpath "$@" -o "$out.tmp" "$pkg") >"$buildlog" 2>&1 &
  local pid=$! last=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if [ $((SECONDS - last)) -ge 30 ]; then
      last=$SECONDS
      log "$name: compiling... $(grep -vc '^#' "$buildlog" || true)/$total packages"
    fi
  done
  if ! wait "$pid"; then
    log "$name: go build FAILED; last lines of $buildlog:"
    tail -n 40 "$buildlog" >&2
    rm -f "$out.tmp"
    exit 1
  fi
  mv -f "$out.tmp" "$out"
  log "$name: built $out in $((SECONDS - t0)) s"
}

log "Go $(go env GOVERSION); kube-apiserver $k8s_version, etcd $etcd_version -> $dest"

etcd_want="etcd Version: ${etcd_version#v}"
if [ "${KUBEVISOR_ENVTEST_FORCE:-}" != 1 ] && has_version "$dest/etcd" "$etcd_want"; then
  log "etcd: already built ($etcd_want)"
else
  build etcd "$src/etcd" . "$dest/etcd" -ldflags "-s -w"
  has_version "$dest/etcd" "$etcd_want" || { log "etcd: built binary does not report '$etcd_want'"; exit 1; }
fi

# The same version variables Kubernetes' hack/lib/version.sh sets, so `--version` and
# GET /version report the pinned release. The module proxy does not carry the git commit.
k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
k8s_want="Kubernetes $k8s_version"
if [ "${KUBEVISOR_ENVTEST_FORCE:-}" != 1 ] && has_version "$dest/kube-apiserver" "$k8s_want"; then
  log "kube-apiserver: already built ($k8s_want)"
else
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.gitCommit=unknown"
    ldflags="$ldflags -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  build kube-apiserver "$src" k8s.io/kubernetes/cmd/kube-apiserver "$dest/kube-apiserver" -ldflags "$ldflags"
  has_version "$dest/kube-apiserver" "$k8s_want" || { log "kube-apiserver: built binary does not report '$k8s_want'"; exit 1; }
fi

# kube-controller-manager from the same module, for startKubeApiServer({ controllerManager:
# true }) (garbage collector and namespace controllers). Most of its packages are shared
# with kube-apiserver, so with Go's build cache warm it only compiles the controllers.
if [ "${KUBEVISOR_ENVTEST_FORCE:-}" != 1 ] && has_version "$dest/kube-controller-manager" "$k8s_want"; then
  log "kube-controller-manager: already built ($k8s_want)"
else
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.gitCommit=unknown"
    ldflags="$ldflags -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  build kube-controller-manager "$src" k8s.io/kubernetes/cmd/kube-controller-manager "$dest/kube-controller-manager" -ldflags "$ldflags"
  has_version "$dest/kube-controller-manager" "$k8s_want" || { log "kube-controller-manager: built binary does not report '$k8s_want'"; exit 1; }
fi

log "done: $dest/{kube-apiserver,kube-controller-manager,etcd}"
log "use it: npm run test:envtest (or KUBEVISOR_ENVTEST_ASSETS=$dest)"
