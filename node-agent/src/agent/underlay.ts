// The node's transport (underlay) interface and IP. Kernel datapath: nothing to do, the kernel
// routes VXLAN packets through the NIC (as Antrea does). Userspace datapath: OVS only encapsulates
// (tnl_push) when the local tunnel endpoint IP sits on an OVS bridge's LOCAL port, so the NIC is
// moved into a bridge `br-phy` and its addresses and routes move to br-phy. Idempotent: a node
// whose IP already sits on br-phy is adopted as it is.
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import type { OvsdbClient, DatapathType } from '../ovs/ovsdb.js';
import { isMac } from '../util/ipv4.js';
import { logger } from '../util/log.js';

const log = logger('underlay');
export const PHYSICAL_BRIDGE = 'br-phy';

export interface Underlay {
  /** interface that carries the node IP (br-phy on the userspace datapath) */
  ipInterface: string;
  /** the physical NIC */
  nic: string;
  nodeIp: string;
  mtu: number;
}

interface IpAddrInfo {
  ifname: string;
  mtu: number;
  address?: string;
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope?: string }>;
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
}

async function ipJson<T>(args: string[]): Promise<T> {
  const r = await execa('ip', ['-j', ...args]);
  return JSON.parse(r.stdout || '[]') as T;
}

async function defaultRouteDevice(): Promise<string | undefined> {
  const routes = await ipJson<IpRoute[]>(['route', 'show', 'default']);
  return routes[0]?.dev;
}

async function interfaceInfo(dev: string): Promise<IpAddrInfo | undefined> {
  const info = await ipJson<IpAddrInfo[]>(['addr', 'show', 'dev', dev]).catch(() => []);
  return info[0];
}

function ipv4Of(info: IpAddrInfo | undefined): { local: string; prefixlen: number } | undefined {
  return info?.addr_info?.find((a) => a.family === 'inet' && a.scope !== 'host');
}

async function interfaceWithIp(ip: string): Promise<string | undefined> {
  const all = await ipJson<IpAddrInfo[]>(['addr', 'show']);
  return all.find((i) => i.addr_info?.some((a) => a.family === 'inet' && a.local === ip))?.ifname;
}

export interface UnderlayOptions {
  datapathType: DatapathType;
  transportInterface?: string;
  transportIP?: string;
}

export async function setupUnderlay(ovsdb: OvsdbClient, o: UnderlayOptions): Promise<Underlay> {
  // Adopt a br-phy set up by a previous run.
  if (o.datapathType === 'netdev' && (await ovsdb.bridgeExists(PHYSICAL_BRIDGE))) {
    const phy = await interfaceInfo(PHYSICAL_BRIDGE);
    const addr = ipv4Of(phy);
    const nic = (await ovsdb.listPorts(PHYSICAL_BRIDGE)).find((p) => p.name !== PHYSICAL_BRIDGE)?.name;
    if (addr && nic) {
      const nicInfo = await interfaceInfo(nic);
      log.info('adopting the existing physical bridge', { bridge: PHYSICAL_BRIDGE, nic, nodeIp: addr.local });
      return { ipInterface: PHYSICAL_BRIDGE, nic, nodeIp: addr.local, mtu: nicInfo?.mtu ?? phy!.mtu };
    }
  }
  let nic = o.transportInterface;
  if (!nic && o.transportIP) nic = await interfaceWithIp(o.transportIP);
  if (!nic) nic = await defaultRouteDevice();
  if (!nic) throw new Error('cannot find the transport interface: set transportInterface (or transportIP) in the agent configuration');
  const info = await interfaceInfo(nic);
  if (!info) throw new Error(`transport interface ${nic} does not exist`);
  const addr = ipv4Of(info);
  if (!addr) throw new Error(`transport interface ${nic} has no IPv4 address: set transportIP or give it an address`);
  if (o.transportIP && addr.local !== o.transportIP) throw new Error(`transport interface ${nic} has ${addr.local}, not the configured transportIP ${o.transportIP}`);
  if (o.datapathType === 'system') return { ipInterface: nic, nic, nodeIp: addr.local, mtu: info.mtu };

  // Userspace datapath: move the NIC into br-phy and its IP and routes onto br-phy's LOCAL port.
  const mac = (await readFile(`/sys/class/net/${nic}/address`, 'utf8')).trim();
  if (!isMac(mac)) throw new Error(`cannot read the MAC of ${nic}`);
  const routes = (await ipJson<IpRoute[]>(['route', 'show', 'dev', nic])).filter((r) => r.protocol !== 'kernel');
  await ovsdb.ensureBridge(PHYSICAL_BRIDGE, {
    datapathType: 'netdev',
    failMode: 'standalone',
    otherConfig: { hwaddr: mac },
    externalIds: { 'loom-managed': 'true', 'loom-nic': nic },
  });
  await ovsdb.addPort(PHYSICAL_BRIDGE, nic, { externalIds: { 'loom-role': 'uplink' } });
  const cmds = [
    `link set ${PHYSICAL_BRIDGE} address ${mac}`,
    `link set ${PHYSICAL_BRIDGE} mtu ${info.mtu}`,
    `link set ${PHYSICAL_BRIDGE} up`,
    `addr del ${addr.local}/${addr.prefixlen} dev ${nic}`,
    `addr add ${addr.local}/${addr.prefixlen} dev ${PHYSICAL_BRIDGE}`,
    ...routes.map((r) => `route replace ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${PHYSICAL_BRIDGE}${r.metric ? ` metric ${r.metric}` : ''}`),
  ];
  await execa('ip', ['-batch', '-'], { input: cmds.join('\n') });
  // The NIC stays a kernel interface: it must not answer ARP or get IPv6 addresses itself.
  await writeFile(`/proc/sys/net/ipv4/conf/${nic}/arp_ignore`, '8');
  await writeFile(`/proc/sys/net/ipv6/conf/${nic}/disable_ipv6`, '1').catch(() => undefined);
  log.info('moved the node IP onto the physical bridge for userspace tunnelling', { bridge: PHYSICAL_BRIDGE, nic, nodeIp: addr.local, routes: routes.length });
  return { ipInterface: PHYSICAL_BRIDGE, nic, nodeIp: addr.local, mtu: info.mtu };
}
