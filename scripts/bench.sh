#!/usr/bin/env bash
# Runs every benchmark, then writes BENCHMARKS.md and bench/charts/*.svg from bench/results/*.json.
# Needs root (network namespaces, OVS) and a build (npm run build). A benchmark that fails is
# reported and the others still run; the report lists benchmarks without a result as "not run".
# Usage: bash scripts/bench.sh [NAME...]   (default: every benchmark)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if [ "$(id -u)" != 0 ]; then echo "scripts/bench.sh: run as root (benchmarks create network namespaces and start OVS)" >&2; exit 1; fi
if [ ! -x dist/loom-cni ] || [ ! -f dist/loom-agent.mjs ]; then echo "scripts/bench.sh: dist/ is missing: run npm run build first" >&2; exit 1; fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then names=(cni-latency cri policy-compile policy-realization podnet bandwidth datapath reliability); fi
failed=()
for name in "${names[@]}"; do
  case "$name" in
    cni-latency) cmd=(node --import tsx bench/cni-latency/run.ts) ;;
    *[!a-z0-9-]*|'') echo "scripts/bench.sh: bad benchmark name '$name'" >&2; failed+=("$name"); continue ;;
    *) cmd=(node --import tsx bench/run-adapted.ts "$name") ;;
  esac
  echo "== $name: ${cmd[*]} (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if ! "${cmd[@]}"; then failed+=("$name"); fi
done

node --import tsx bench/report.ts
if [ ${#failed[@]} -gt 0 ]; then echo "scripts/bench.sh: failed: ${failed[*]} (their previous results, if any, are still in the report)" >&2; exit 1; fi
