#!/usr/bin/env bash
# Builds Loom's pod-sandbox ("pause") image as an OCI image-layout archive from Debian's
# busybox-static (no registry, no Docker, no umoci/skopeo), and optionally imports it into a
# containerd for use as the CRI plugin's sandbox_image (localhost/loom-pause:1).
#   scripts/build-pause-image.sh [OUT.tar] [--import CONTAINERD_SOCKET]
# Default OUT: dist/loom-pause-image.tar. Needs: busybox-static, tar, npm dependencies (tsx).
set -euo pipefail
out=$(realpath -m "${1:-dist/loom-pause-image.tar}")
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
mkdir -p "$(dirname "$out")"
tsx e2e/cri/pause-image.ts "$out"
if [ "${2:-}" = "--import" ]; then
  if [ -z "${3:-}" ]; then echo "--import needs containerd's socket path, e.g. /run/containerd/containerd.sock" >&2; exit 2; fi
  ctr --address "$3" --namespace k8s.io images import "$out"
fi
