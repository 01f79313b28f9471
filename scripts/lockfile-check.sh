#!/usr/bin/env bash
# `npm ci` in a fresh clone with each npm major our users run (issue #12): npm 10 (Node
# 22's) and npm 11 (Node 24's). A lockfile written by one npm is not always accepted by
# another: npm 11 rejected a lockfile that lacked other platforms' optional packages
# (`Missing: @biomejs/cli-android-arm64@2.6.8 from lock file`), which npm 10 tolerated.
#
#   npm run test:lockfile                        # the pinned versions below
#   bash scripts/lockfile-check.sh 10.9.9 12.2.2 # any others
#
# Each check clones this checkout into a temporary directory, puts the working tree's
# package.json and package-lock.json in it (the same files as HEAD's on a clean CI
# checkout; uncommitted lockfile edits get checked too) and ./dev, and runs `./dev`, which runs
# `npm ci` there with KUBEVISOR_NPM_VERSION (npm fetched from the npm registry once into
# ~/.cache/kubevisor). The installed tools must then run: `tsc` and `biome` (a platform
# package the lockfile must name for every platform).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$#" -gt 0 ]; then versions=("$@"); else versions=(10.9.9 11.21.2); fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kubevisor-lockfile.XXXXXX")
trap 'rm -rf "$work"' EXIT
for v in "${versions[@]}"; do
  t0=$SECONDS
  clone="$work/npm-$v"
  git clone -q "$root" "$clone"
  cp "$root/package.json" "$root/package-lock.json" "$root/dev" "$clone/"
  echo "lockfile: npm ci with npm $v in a fresh clone ($clone)"
  (cd "$clone" && KUBEVISOR_NPM_VERSION="$v" ./dev bash -c '
    set -e
    [ "$(npm --version)" = "$KUBEVISOR_NPM_VERSION" ] || { echo "lockfile: expected npm $KUBEVISOR_NPM_VERSION, got $(npm --version)" >&2; exit 1; }
    npx --no-install tsc --version >/dev/null
    npx --no-install biome --version >/dev/null')
  echo "lockfile: npm $v ok ($((SECONDS - t0)) s)"
done
