#!/usr/bin/env bash
# npm run bench — berthd beside the raw runc floor and the reference engine (Debian's docker.io),
# all measured in one run through the real docker CLI with shared/tools/engine-bench.sh.
#   SECTIONS=run,detached,logs npm run bench      # a subset (engine-bench.sh's section names)
#   NO_REFERENCE=1 npm run bench                  # berthd and the floor only
# Prints the side-by-side medians, the ratios against the reference and the issue targets.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${SHARED:-$ROOT/../shared}
TOOLS=$SHARED/tools
export DEBIAN_FRONTEND=noninteractive
for p in hyperfine jq curl wrk; do command -v $p >/dev/null || apt-get install -y -qq $p >/dev/null; done
STAMP=$(date +%Y%m%d-%H%M%S)
OUTROOT=${OUTROOT:-/tmp/berth-bench-$STAMP}
mkdir -p "$OUTROOT"
export SECTIONS=${SECTIONS:-version,run,create,detached,logs,build,pushpull}

# 1. The floor: runc straight from a bundle.
OUT=$OUTROOT/floor RUNTIMES=runc bash "$TOOLS/runtime-floor.sh" floor > "$OUTROOT/floor.log" 2>&1 || echo "runtime-floor failed (see $OUTROOT/floor.log)"

# 2. berthd on its own roots, socket and cgroup parent; the exec root on a tmpfs under /run, as
#    berthd's default (/run/berth) and the reference's (/run/reference-docker-exec) are.
B=$OUTROOT/berthd; mkdir -p "$B"
BEXEC=/run/berth-bench-$STAMP
./bin/berthd --data-root "$B/data" --exec-root "$BEXEC" -H "unix://$B/d.sock" --cgroup-parent /berth-bench > "$B/daemon.log" 2>&1 &
BPID=$!
for _ in $(seq 1 100); do curl -fsS --unix-socket "$B/d.sock" http://x/_ping >/dev/null 2>&1 && break; sleep 0.1; done
DOCKER_HOST=unix://$B/d.sock ENGINE_PID=$BPID OUT=$OUTROOT/berth-run REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry} \
  bash "$TOOLS/engine-bench.sh" berthd || true
DOCKER_HOST=unix://$B/d.sock RUNC_ROOT=$BEXEC/runtime bash scripts/bench-exec.sh berthd | tee "$OUTROOT/exec-berthd.tsv" || true
kill -TERM $BPID; wait $BPID 2>/dev/null
grep -oE " ($B|$BEXEC)[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
rm -rf "$B/data" "$BEXEC"

# 3. The reference engine, when it can be started here.
if [ -z "${NO_REFERENCE:-}" ]; then
  if bash "$TOOLS/start-reference-dockerd.sh" > "$OUTROOT/refd.log" 2>&1; then
    DOCKER_HOST=unix:///run/reference-docker.sock OUT=$OUTROOT/reference-run bash "$TOOLS/engine-bench.sh" dockerd || true
    DOCKER_HOST=unix:///run/reference-docker.sock bash scripts/bench-exec.sh dockerd | tee "$OUTROOT/exec-dockerd.tsv" || true
    REF_STARTED=1   # kept up for the subsystem benchmarks below, stopped at the end
  else
    echo "reference dockerd could not start (see $OUTROOT/refd.log): ratios against it are omitted"
  fi
fi

# 4. Subsystem benchmarks (each prints its own table): registry/pull/push, builder, compose, Hub.
if [ -z "${ENGINE_ONLY:-}" ]; then
  REF=""; [ -S /run/reference-docker.sock ] && REF=unix:///run/reference-docker.sock
  echo; echo "## Distribution (push/pull, berth registry vs docker-registry)"; REFERENCE_DOCKER_HOST=$REF node scripts/bench-distribution.mjs || true
  echo; echo "## Networking (published port vs direct, network cost at start)"; REFERENCE_DOCKER_HOST=$REF node scripts/bench-network.mjs || true
  echo; echo "## Builder (cold and cached)"; node scripts/bench-build.mjs || true
  echo; echo "## Compose (10 services, berth compose vs docker-compose 1.29)"; node scripts/bench-compose.mjs || true
  echo; echo "## Hub (token + blob HEAD rate, search page)"; node --test dist/test/bench/hub.bench.js || true
fi

# dockerd leaves its bridge and iptables chains behind when it stops: the reference's go with it.
# Only when docker0 holds the reference's address (so they are the reference's, not a system Docker's).
remove_reference_network() {
  local bip=${REFERENCE_DOCKER_BIP:-172.31.250.1/24}
  ip -o -4 addr show dev docker0 2>/dev/null | grep -q " ${bip%/*}/" || return 0
  local subnet="${bip%.*}.0/${bip#*/}"
  for t in filter nat; do
    iptables -t $t -S 2>/dev/null | grep '^-A' | grep -E -- "-j DOCKER(-[A-Z0-9-]+)?( |\$)|docker0|$subnet" | grep -v '^-A DOCKER' |
      sed 's/^-A/-D/' | while read -r rule; do eval "iptables -t $t $rule" || true; done
    for ch in $(iptables -t $t -S 2>/dev/null | awk '/^-N DOCKER/{print $2}'); do iptables -t $t -F "$ch" || true; done
    for ch in $(iptables -t $t -S 2>/dev/null | awk '/^-N DOCKER/{print $2}'); do iptables -t $t -X "$ch" || true; done
  done
  ip link del docker0 2>/dev/null || true
}
if [ -n "${REF_STARTED:-}" ]; then
  bash "$TOOLS/stop-reference-dockerd.sh" >> "$OUTROOT/refd.log" 2>&1 || true
  remove_reference_network
fi

# 5. Side by side, and the ratios the issues set as targets.
files=$(ls "$OUTROOT"/floor/results.tsv "$OUTROOT"/berth-run/results.tsv "$OUTROOT"/reference-run/results.tsv 2>/dev/null)
echo; echo "## Medians (ms unless stated) — $OUTROOT"
FIELD=median bash "$TOOLS/compare.sh" $files | tee "$OUTROOT/compare.md"
node scripts/bench-ratios.mjs $files | tee -a "$OUTROOT/compare.md"

# 6. exec and stats latency (issue target: docker exec at most 0.4x the reference's).
if [ -s "$OUTROOT/exec-berthd.tsv" ]; then
  echo; echo "## docker exec / stats (medians, ms)"; echo
  echo "| metric | berthd | dockerd | ratio |"; echo "| --- | ---: | ---: | ---: |"
  awk -F'\t' 'FNR==NR { ref[$2]=$4; next } { r = ($2 in ref) ? ref[$2] : ""; printf "| %s | %s | %s | %s |\n", $2, $4, (r==""?"–":r), (r==""?"–":sprintf("%.2f", $4/r)) }' \
    "$OUTROOT/exec-dockerd.tsv" "$OUTROOT/exec-berthd.tsv" 2>/dev/null | tee -a "$OUTROOT/compare.md"
  echo "(runc-exec-floor is runc exec alone into berthd's container; its ratio is against the reference's whole docker exec)"
fi
