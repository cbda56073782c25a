// CNI network configuration lists given to the test containerd's conf_dir.
// containerd 1.6 vendors libcni 1.1, which knows CNI versions up to 1.0.0: 1.1.0 is rejected there.

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<{ type: string } & Record<string, unknown>>;
  [key: string]: unknown;
}

export const CONTAINERD_16_CNI_VERSION = '1.0.0';

/** Loom (loom-cni talking to the agent at `socketPath`) chained with portmap, as on a real node. */
export function loomConflist(socketPath: string): Conflist {
  return {
    cniVersion: CONTAINERD_16_CNI_VERSION,
    name: 'loom',
    plugins: [
      { type: 'loom-cni', socketPath },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/**
 * Debian's reference bridge + host-local (for comparing timings with Loom on the same containerd).
 * `ipamDataDir` keeps host-local's leases out of /var/lib/cni.
 */
export function bridgeConflist(subnet: string, ipamDataDir: string, bridge = 'cni-loomt0'): Conflist {
  return {
    cniVersion: CONTAINERD_16_CNI_VERSION,
    name: 'bridge',
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet }]], dataDir: ipamDataDir } },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}
