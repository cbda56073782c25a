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

const EXT_NIC = 'loom-nic';
const EXT_MAC = 'loom-nic-mac';
const EXT_ADDR = 'loom-node-addr';
const EXT_ROUTES = 'loom-node-routes';
const EXT_MTU = 'loom-nic-mtu';

interface SavedRoute {
  dst: string;
  via?: string;
  metric?: number;
}

function parseSaved(addr: string | undefined, routes: string | undefined, mtuText: string | undefined): { addr: string; routes: SavedRoute[]; mtu: number } | undefined {
  if (!addr || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(addr)) return undefined;
  try {
    const list = JSON.parse(routes ?? '[]') as SavedRoute[];
    if (!Array.isArray(list)) return undefined;
    const ok = list.every((r) => typeof r.dst === 'string' && /^[0-9./a-z]+$/.test(r.dst) && (r.via === undefined || /^[0-9.]+$/.test(r.via)));
    const mtu = Number(mtuText ?? 1500);
    return ok && Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535 ? { addr, routes: list, mtu } : undefined;
  } catch {
    return undefined;
  }
}

async function missingRoutes(routes: SavedRoute[]): Promise<SavedRoute[]> {
  const have = await ipJson<IpRoute[]>(['route', 'show', 'dev', PHYSICAL_BRIDGE]).catch(() => []);
  return routes.filter((r) => !have.some((h) => h.dst === r.dst && (h.gateway ?? undefined) === r.via));
}

/** ip -batch lines that put the node address and routes on br-phy (idempotent). */
function bridgeCommands(addrCidr: string, routes: SavedRoute[], mac: string | undefined, mtu: number): string[] {
  return [
    ...(mac && isMac(mac) ? [`link set ${PHYSICAL_BRIDGE} address ${mac}`] : []),
    `link set ${PHYSICAL_BRIDGE} mtu ${mtu}`,
    `link set ${PHYSICAL_BRIDGE} up`,
    `addr replace ${addrCidr} dev ${PHYSICAL_BRIDGE}`,
    ...routes.map((r) => `route replace ${r.dst}${r.via ? ` via ${r.via}` : ''} dev ${PHYSICAL_BRIDGE}${r.metric ? ` metric ${r.metric}` : ''}`),
  ];
}

export interface UnderlayOptions {
  datapathType: DatapathType;
  transportInterface?: string;
  transportIP?: string;
}

export async function setupUnderlay(ovsdb: OvsdbClient, o: UnderlayOptions): Promise<Underlay> {
  // Adopt a br-phy set up by a previous run, restoring its address and routes if they were lost
  // (a restarted userspace ovs-vswitchd recreates br-phy's LOCAL port without them).
  if (o.datapathType === 'netdev' && (await ovsdb.bridgeExists(PHYSICAL_BRIDGE))) {
    const ids = await ovsdb.getBridgeExternalIds(PHYSICAL_BRIDGE);
    const nic = ids[EXT_NIC];
    const saved = parseSaved(ids[EXT_ADDR], ids[EXT_ROUTES], ids[EXT_MTU]);
    if (nic && saved) {
      const mac = ids[EXT_MAC];
      // Only touch br-phy when something is missing: re-setting its MAC or MTU makes OVS
      // reconfigure the port, which costs packets on a running node.
      const phy = await interfaceInfo(PHYSICAL_BRIDGE);
      const hasAddr = phy?.addr_info?.some((a) => a.family === 'inet' && `${a.local}/${a.prefixlen}` === saved.addr);
      const up = (phy as { operstate?: string; flags?: string[] } | undefined)?.flags?.includes('UP');
      if (!hasAddr || !up || phy?.mtu !== saved.mtu || (mac && phy?.address !== mac)) {
        await execa('ip', ['-batch', '-'], { input: bridgeCommands(saved.addr, saved.routes, mac, saved.mtu).join('\n') });
      } else {
        const missing = await missingRoutes(saved.routes);
        if (missing.length > 0) await execa('ip', ['-batch', '-'], { input: bridgeCommands(saved.addr, missing, undefined, saved.mtu).slice(-missing.length).join('\n') });
      }
      const [nodeIp] = saved.addr.split('/');
      log.info('adopted the physical bridge', { bridge: PHYSICAL_BRIDGE, nic, nodeIp });
      return { ipInterface: PHYSICAL_BRIDGE, nic, nodeIp: nodeIp!, mtu: saved.mtu };
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
  const addrCidr = `${addr.local}/${addr.prefixlen}`;
  const savedRoutes: SavedRoute[] = routes.map((r) => ({ dst: r.dst, ...(r.gateway ? { via: r.gateway } : {}), ...(r.metric ? { metric: r.metric } : {}) }));
  await ovsdb.ensureBridge(PHYSICAL_BRIDGE, {
    datapathType: 'netdev',
    failMode: 'standalone',
    otherConfig: { hwaddr: mac },
    // What moved onto br-phy, so it can be restored after a vswitchd restart or on uninstall.
    externalIds: {
      'loom-managed': 'true',
      [EXT_NIC]: nic,
      [EXT_MAC]: mac,
      [EXT_ADDR]: addrCidr,
      [EXT_ROUTES]: JSON.stringify(savedRoutes),
      [EXT_MTU]: String(info.mtu),
    },
  });
  await ovsdb.addPort(PHYSICAL_BRIDGE, nic, { externalIds: { 'loom-role': 'uplink' } });
  await execa('ip', ['-batch', '-'], {
    input: [`addr del ${addrCidr} dev ${nic}`, ...bridgeCommands(addrCidr, savedRoutes, mac, info.mtu)].join('\n'),
  });
  // The NIC stays a kernel interface: it must not answer ARP or get IPv6 addresses itself.
  await writeFile(`/proc/sys/net/ipv4/conf/${nic}/arp_ignore`, '8');
  await writeFile(`/proc/sys/net/ipv6/conf/${nic}/disable_ipv6`, '1').catch(() => undefined);
  log.info('moved the node IP onto the physical bridge for userspace tunnelling', { bridge: PHYSICAL_BRIDGE, nic, nodeIp: addr.local, routes: routes.length });
  return { ipInterface: PHYSICAL_BRIDGE, nic, nodeIp: addr.local, mtu: info.mtu };
}
