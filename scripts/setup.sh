#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root): install what berthd needs, build, start it.
#   bash scripts/setup.sh            # installs, builds, then runs berthd in the foreground with its defaults
#   BERTH_NO_START=1 bash scripts/setup.sh   # install and build only
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# gcc/libc6-dev/libseccomp-dev build berth's native helpers; g++/make/python3 build better-sqlite3
# when npm cannot fetch its prebuilt binary.
need=(runc conmon iptables iproute2 attr tini gcc g++ make python3 libc6-dev libseccomp-dev)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# npm ci refuses this lock: node-unix-socket lists optional platform packages the registry does not have.
npm install --no-audit --no-fund
npm run build
[ -n "${BERTH_NO_START:-}" ] && exit 0
exec ./bin/berthd "$@"
