// CNI results in the shape of the requested cniVersion.
import type { CniResult } from '../../../cni-binary/src/spec.js';

export interface AttachmentResultInput {
  cniVersion: string;
  hostIfname: string;
  hostMac: string;
  ifname: string;
  podMac: string;
  netns: string;
  mtu: number;
  /** CIDR form, e.g. 10.244.1.5/24 */
  address: string;
  gateway: string;
}

export function buildAddResult(a: AttachmentResultInput): CniResult {
  const legacy = a.cniVersion.startsWith('0.3.');
  return {
    cniVersion: a.cniVersion,
    interfaces: [
      { name: a.hostIfname, mac: a.hostMac },
      { name: a.ifname, mac: a.podMac, sandbox: a.netns, ...(legacy ? {} : { mtu: a.mtu }) },
    ],
    ips: [{ ...(legacy ? { version: '4' as const } : {}), address: a.address, gateway: a.gateway, interface: 1 }],
    routes: [{ dst: '0.0.0.0/0', gw: a.gateway }],
    dns: {},
  };
}
