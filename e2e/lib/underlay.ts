// The underlay segment: a Linux bridge `ul0` (10.0.0.1/24) inside the `<prefix>ul` namespace, and
// veth links from it into the API server's and the nodes' namespaces. Interfaces are created directly
// in their namespaces: nothing is ever created in the machine's root namespace.
import { execa } from 'execa';
import { assertIPv4, UNDERLAY } from './names.js';

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

async function ip(ns: string, args: string[]): Promise<void> {
  const r = await execa('ip', ['-n', ns, ...args], { reject: false, timeout: 20000 });
  if (r.exitCode !== 0) throw new Error(`ip -n ${ns} ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

/** Real NICs hand out complete checksums; a veth feeding an OVS netdev (AF_PACKET) port must too. */
async function txChecksumOff(ns: string, dev: string): Promise<void> {
  const r = await execa('ip', ['netns', 'exec', ns, 'ethtool', '-K', dev, 'tx', 'off'], { reject: false, timeout: 20000 });
  if (r.exitCode !== 0) throw new Error(`turning tx checksum offload off on ${dev} in ${ns} failed: ${r.stderr.trim()}`);
}

/** Creates the bridge with the underlay gateway address in the (existing) underlay namespace. */
export async function createUnderlayBridge(ulNs: string): Promise<void> {
  await ip(ulNs, ['link', 'add', UNDERLAY.bridge, 'type', 'bridge']);
  await ip(ulNs, ['addr', 'add', `${UNDERLAY.gatewayIp}/${UNDERLAY.prefixLength}`, 'dev', UNDERLAY.bridge]);
  await ip(ulNs, ['link', 'set', UNDERLAY.bridge, 'mtu', String(UNDERLAY.mtu), 'up']);
}

export interface UnderlayAttachment {
  /** namespace that gets `eth0` */
  netns: string;
  /** name of the bridge-side veth in the underlay namespace (<= 15 chars, unique there) */
  bridgePort: string;
  ip: string;
  /** add a default route via 10.0.0.1 */
  defaultRoute: boolean;
}

/** Links `netns` to the underlay bridge: `eth0` with `ip`/24 in netns, its peer on ul0. */
export async function attachToUnderlay(ulNs: string, a: UnderlayAttachment): Promise<void> {
  if (!IFNAME_RE.test(a.bridgePort)) throw new Error(`underlay port name must be 1..15 chars of [A-Za-z0-9_.-], got "${a.bridgePort}"`);
  assertIPv4('underlay address', a.ip);
  await ip(ulNs, ['link', 'add', a.bridgePort, 'mtu', String(UNDERLAY.mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(UNDERLAY.mtu), 'netns', a.netns]);
  await ip(ulNs, ['link', 'set', a.bridgePort, 'master', UNDERLAY.bridge, 'up']);
  await ip(a.netns, ['addr', 'add', `${a.ip}/${UNDERLAY.prefixLength}`, 'dev', 'eth0']);
  await ip(a.netns, ['link', 'set', 'eth0', 'up']);
  if (a.defaultRoute) await ip(a.netns, ['route', 'add', 'default', 'via', UNDERLAY.gatewayIp]);
  await Promise.all([txChecksumOff(ulNs, a.bridgePort), txChecksumOff(a.netns, 'eth0')]);
}
