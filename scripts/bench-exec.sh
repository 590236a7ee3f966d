#!/usr/bin/env bash
# docker exec and docker stats --no-stream latency through the real docker CLI, for any engine
# chosen by DOCKER_HOST (berthd, or the reference dockerd): medians of 20 after a warm-up.
#   DOCKER_HOST=unix:///run/berth.sock bash scripts/bench-exec.sh berthd
# With RUNC_ROOT (the engine's runc state root, e.g. <exec-root>/runtime for berthd) it also times
# `runc exec` straight into the same container: the floor any engine that uses runc pays per exec.
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
if [ -n "${RUNC_ROOT:-}" ]; then
  id=$(docker inspect -f '{{.Id}}' "$NAME")
  hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$out/floor.json" "runc --root $RUNC_ROOT exec $id true" >/dev/null 2>&1
  printf '%s\trunc-exec-floor\tms\t%s\n' "$LABEL" "$(jq '.results[0].median * 1000 | round' "$out/floor.json")"
fi
printf '%s\texec-true\tms\t%s\n' "$LABEL" "$(jq '.results[0].median * 1000 | round' "$out/exec.json")"
printf '%s\tstats-no-stream\tms\t%s\n' "$LABEL" "$(jq '.results[0].median * 1000 | round' "$out/stats.json")"
rm -rf "$out"
