#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs the demo cluster.
#   bash scripts/demo.sh          bring up, show connectivity before/after a NetworkPolicy, tear down
#   bash scripts/demo.sh --keep   leave the cluster running (prints the kubeconfig and how to exec into pods)
#   bash scripts/demo.sh --down   tear down a kept cluster
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx tsx e2e/demo.ts "$@"
