#!/usr/bin/env bash
# docker exec and docker stats --no-stream latency through the real docker CLI, for any engine
# chosen by DOCKER_HOST (berthd, or the reference dockerd): medians of 20 after a warm-up.
#   DOCKER_HOST=unix:///run/berth.sock bash scripts/bench-exec.sh berthd
set -euo pipefail
LABEL=${1:-engine}
RUNS=${RUNS:-20}
NAME=benchexec$$
docker image inspect busybox >/dev/null 2>&1 || { echo "$LABEL: needs a busybox image" >&2; exit 1; }
docker run -d --name "$NAME" busybox sleep 600 >/dev/null
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true' EXIT
out=$(mktemp -d)
hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$out/exec.json" "docker exec $NAME true" >/dev/null 2>&1
hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$out/stats.json" "docker stats --no-stream $NAME" >/dev/null 2>&1
printf '%s\texec-true\tms\t%s\n' "$LABEL" "$(jq '.results[0].median * 1000 | round' "$out/exec.json")"
printf '%s\tstats-no-stream\tms\t%s\n' "$LABEL" "$(jq '.results[0].median * 1000 | round' "$out/stats.json")"
rm -rf "$out"
