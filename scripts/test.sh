#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and runs every test. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test --silent
