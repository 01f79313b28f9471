#!/usr/bin/env bash
# Reconciles package-lock.json with package.json after dependencies changed (a merge, a
# hand edit), keeping every locked version that still satisfies its range, with npm 11:
# `npm install --package-lock-only`. npm 11 records the optional packages of every platform
# (biome's, typescript's), which its `npm ci` requires and npm 10's accepts; npm 10 keeps
# them when it edits the lockfile later (`./dev npm install <pkg>`), but is not relied on
# to add missing ones.
#
# After a merge with conflicts in package-lock.json:
#   1. resolve package.json by hand (the union of the dependencies);
#   2. take either side of the lockfile: git checkout --ours package-lock.json
#   3. bash scripts/lockfile-update.sh
#   4. ./dev npm run test:lockfile   # npm ci in a fresh clone with npm 10 and npm 11
#   5. commit package.json and package-lock.json together.
#
# Runs through ./dev with KUBEVISOR_DEV_SKIP_INSTALL=1: the toolchain (Node, npm 11) but
# no `npm ci`, which would refuse the out-of-sync lockfile this script is here to fix.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
KUBEVISOR_NPM_VERSION="${KUBEVISOR_NPM_VERSION:-11.21.2}" KUBEVISOR_DEV_SKIP_INSTALL=1 \
  ./dev npm install --package-lock-only --no-audit --no-fund "$@"
