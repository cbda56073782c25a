// Remote nodes -> tunnel flows, host routes and (userspace datapath) tunnel next-hop neighbours.
// Level-triggered: sync() takes every Node the informer knows and converges flows, routes and
// neighbours to it; unchanged nodes cost nothing.
import type * as k8s from '@kubernetes/client-node';
import { execa } from 'execa';
import { nodeInfoOf } from '../k8s/node.js';
import { CookieKind } from '../pipeline/cookie.js';
import type { Flow } from '../pipeline/flow.js';
import type { NodeNetwork } from '../pipeline/pipeline.js';
import { nodeCookieId, remoteGatewayIp, remoteNodeFlows, tunnelBaseFlows, type RemoteNode, type TunnelConfig } from '../pipeline/tunnel.js';
import { cidrContains, isMac, parseCidr, parseIpv4 } from '../util/ipv4.js';
import type { OvsAppctl } from '../ovs/appctl.js';
import { checkIfName } from '../ovs/validate.js';
import { errorMessage, logger } from '../util/log.js';
import type { FlowSync } from './flow-sync.js';

const log = logger('overlay');

export interface OverlayDeps {
  localNode: string;
  net: NodeNetwork;
  tunnel: TunnelConfig;
  flows: FlowSync;
  gatewayInterface: string;
  podMtu: number;
  onPeers?: (n: number) => void;
  /**
   * Userspace datapath only. OVS encapsulates a packet only once its tunnel neighbour cache knows the
   * MAC of the next hop to the remote node; on a miss it sends an ARP request and drops the packet
   * (the first packet to every new node, e.g. a SYN that then waits 1 s for its retransmit). The
   * agent keeps one `managed` kernel neighbour entry per next hop on `device` (br-phy, holding the
   * node IP): the kernel resolves it at once and re-probes it for as long as it exists, and OVS
   * refreshes its cache from the replies crossing br-phy. As soon as the kernel knows a next hop's
   * MAC, the agent also hands it to OVS (`tnl/neigh/set`): OVS snoops replies and gratuitous ARPs
   * only, and the kernel may learn the MAC from the peer's own request, which OVS ignores.
   */
  tunnelNeighbours?: { device: string; appctl: Pick<OvsAppctl, 'call' | 'tnlNeighSet'> };
}

/** rtnetlink protocol (NDA_PROTOCOL) of the neighbour entries Loom keeps, so that only ours are removed. */
export const TUNNEL_NEIGH_PROTOCOL = 76;

/** What `ip -j route show dev X` and `ip -j neigh show dev X` print (the fields used here). */
export interface IpRouteJson {
  dst: string;
  gateway?: string;
  type?: string;
}
export interface IpNeighJson {
  dst: string;
  lladdr?: string;
  /** present (null) when the entry has the managed flag */
  managed?: unknown;
  protocol?: string | number;
}

/**
 * The next hop towards `ip` through the interface whose routes are given: the gateway of the longest
 * matching route, `ip` itself for an on-link route, undefined when no route of the interface matches.
 */
export function tunnelNextHop(ip: string, routes: readonly IpRouteJson[]): string | undefined {
  const addr = parseIpv4(ip);
  if (addr === null) return undefined;
  let best: { prefix: number; hop: string } | undefined;
  for (const r of routes) {
    if (r.type !== undefined && r.type !== 'unicast') continue;
    const cidr = parseCidr(r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    if (!cidr || !cidrContains(cidr, addr) || (best && best.prefix >= cidr.prefix)) continue;
    const hop = r.gateway ?? ip;
    if (parseIpv4(hop) !== null) best = { prefix: cidr.prefix, hop };
  }
  return best?.hop;
}

/**
 * `ip -batch` lines that leave exactly one managed neighbour entry of ours on `dev` per next hop of
 * `peerIps`, and delete ours that no peer needs any more. An entry of a next hop that is not ours is
 * recreated rather than converted: the kernel may have learned it from the peer's own ARP request,
 * which OVS does not snoop (only replies and gratuitous ARPs), and a converted entry keeps its MAC
 * without any reply crossing br-phy until its next probe; a new entry is resolved at once.
 */
export function planTunnelNeighbours(dev: string, hops: ReadonlySet<string>, neighbours: readonly IpNeighJson[]): string[] {
  checkIfName('tunnel neighbour device', dev);
  const cmds: string[] = [];
  for (const hop of hops) {
    const cur = neighbours.find((n) => n.dst === hop);
    if (cur && 'managed' in cur && String(cur.protocol) === String(TUNNEL_NEIGH_PROTOCOL)) continue;
    if (cur) cmds.push(`neigh del ${hop} dev ${dev}`);
    cmds.push(`neigh replace ${hop} dev ${dev} managed protocol ${TUNNEL_NEIGH_PROTOCOL}`);
  }
  for (const n of neighbours) {
    if (String(n.protocol) === String(TUNNEL_NEIGH_PROTOCOL) && !hops.has(n.dst) && parseIpv4(n.dst) !== null) cmds.push(`neigh del ${n.dst} dev ${dev}`);
  }
  return cmds;
}

/** The distinct next hops of `peerIps` through the interface whose routes are given. */
export function tunnelNextHops(peerIps: readonly string[], routes: readonly IpRouteJson[]): Set<string> {
  const hops = new Set<string>();
  for (const ip of peerIps) {
    const hop = tunnelNextHop(ip, routes);
    if (hop !== undefined) hops.add(hop);
  }
  return hops;
}

/**
 * Next hops whose MAC the kernel knows but OVS's tunnel neighbour cache (`tnl/neigh/show` text) does
 * not, or knows with another MAC, for `bridge`. Hops the kernel has not resolved yet are left out.
 */
export function tunnelNeighbourSeeds(bridge: string, hops: ReadonlySet<string>, neighbours: readonly IpNeighJson[], ovsShow: string): Array<{ ip: string; mac: string }> {
  const inOvs = new Map<string, string>();
  for (const line of ovsShow.split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+)\s+([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s+(\S+)(\s+STALE)?\s*$/i.exec(line.trim());
    if (m && m[3] === bridge && !m[4]) inOvs.set(m[1]!, m[2]!.toLowerCase());
  }
  const seeds: Array<{ ip: string; mac: string }> = [];
  for (const hop of hops) {
    const mac = neighbours.find((n) => n.dst === hop)?.lladdr?.toLowerCase();
    if (mac !== undefined && isMac(mac) && mac !== '00:00:00:00:00:00' && inOvs.get(hop) !== mac) seeds.push({ ip: hop, mac });
  }
  return seeds;
}

const sameNode = (a: RemoteNode, b: RemoteNode) => a.podCidr === b.podCidr && a.nodeIp === b.nodeIp;

export function remoteNodesOf(nodes: readonly k8s.V1Node[], localNode: string): Map<string, RemoteNode> {
  const out = new Map<string, RemoteNode>();
  for (const n of nodes) {
    const name = n.metadata?.name;
    if (!name || name === localNode) continue;
    const info = nodeInfoOf(n);
    if (!info.podCidr || !info.internalIp) continue;
    if (!parseCidr(info.podCidr) || parseIpv4(info.internalIp) === null) {
      log.warn('ignoring node with an invalid podCIDR or InternalIP', { node: name, podCidr: info.podCidr, internalIp: info.internalIp });
      continue;
    }
    out.set(name, { name, podCidr: info.podCidr, nodeIp: info.internalIp });
  }
  return out;
}

export class Overlay {
  private peers = new Map<string, RemoteNode>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: OverlayDeps) {}

  /** Every overlay flow for a full resync. */
  desiredFlows(round: number): Flow[] {
    return [
      ...tunnelBaseFlows(this.d.net, this.d.tunnel, round),
      ...[...this.peers.values()].flatMap((p) => remoteNodeFlows(this.d.net, this.d.tunnel, p, round)),
    ];
  }

  /** Set the peers without touching OVS (start-up: the full resync installs them). */
  setInitial(nodes: readonly k8s.V1Node[]): void {
    this.peers = remoteNodesOf(nodes, this.d.localNode);
    this.d.onPeers?.(this.peers.size);
  }

  /** Converge flows and routes to the given nodes. Serialised. */
  sync(nodes: readonly k8s.V1Node[]): Promise<void> {
    const run = () => this.doSync(remoteNodesOf(nodes, this.d.localNode));
    const p = this.queue.then(run, run);
    this.queue = p.catch((e) => log.error('overlay sync failed', { error: errorMessage(e) }));
    return p;
  }

  private async doSync(want: Map<string, RemoteNode>): Promise<void> {
    const changed: RemoteNode[] = [];
    const removed: RemoteNode[] = [];
    for (const [name, n] of want) {
      const have = this.peers.get(name);
      if (!have || !sameNode(have, n)) changed.push(n);
    }
    for (const [name, n] of this.peers) if (!want.has(name)) removed.push(n);
    if (changed.length === 0 && removed.length === 0) return;
    for (const n of changed) {
      await this.d.flows.replaceObject(CookieKind.Node, nodeCookieId(n.name), remoteNodeFlows(this.d.net, this.d.tunnel, n, 0));
    }
    for (const n of removed) await this.d.flows.removeObject(CookieKind.Node, nodeCookieId(n.name));
    this.peers = want;
    await this.syncHostSide();
    this.d.onPeers?.(this.peers.size);
    log.info('overlay peers updated', {
      added: changed.map((n) => ({ node: n.name, podCidr: n.podCidr, nodeIp: n.nodeIp })),
      removed: removed.map((n) => n.name),
      peers: this.peers.size,
    });
  }

  /** Host routes, then tunnel next-hop neighbours (start-up, peer changes, after a vswitchd restart). */
  async syncHostSide(): Promise<void> {
    await this.syncRoutes();
    await this.syncTunnelNeighbours();
  }

  /**
   * Managed kernel neighbour entries for the tunnel next hops, and their MACs handed to OVS (see
   * tunnelNeighbours). Best effort: a failure (e.g. a kernel before 5.16, without managed
   * neighbours) only costs the first packet to each node, so it is logged, not thrown.
   */
  async syncTunnelNeighbours(): Promise<void> {
    const t = this.d.tunnelNeighbours;
    if (t === undefined) return;
    try {
      const [routes, neighbours] = await Promise.all([
        execa('ip', ['-j', 'route', 'show', 'dev', t.device]).then((r) => JSON.parse(r.stdout || '[]') as IpRouteJson[]),
        this.kernelNeighbours(t.device),
      ]);
      const hops = tunnelNextHops([...this.peers.values()].map((p) => p.nodeIp), routes);
      const cmds = planTunnelNeighbours(t.device, hops, neighbours);
      if (cmds.length > 0) await execa('ip', ['-force', '-batch', '-'], { input: cmds.join('\n') });
      const unresolved = await this.seedOvs(hops, cmds.length > 0 ? await this.kernelNeighbours(t.device) : neighbours);
      // New entries take a round trip to resolve (longer while the peer itself starts): seed those
      // in the background rather than hold up the caller (agent start-up, a Node event).
      if (unresolved.size > 0) void this.seedWhenResolved(unresolved);
    } catch (e) {
      log.warn('cannot keep the tunnel next hops resolved; the first packet to each node may be lost', { device: t.device, error: errorMessage(e) });
    }
  }

  private async kernelNeighbours(device: string): Promise<IpNeighJson[]> {
    return JSON.parse((await execa('ip', ['-j', 'neigh', 'show', 'dev', device])).stdout || '[]') as IpNeighJson[];
  }

  /** Hands OVS the next hops' MACs it lacks; returns the hops the kernel has not resolved yet. */
  private async seedOvs(hops: ReadonlySet<string>, neighbours: readonly IpNeighJson[]): Promise<Set<string>> {
    const t = this.d.tunnelNeighbours!;
    const unresolved = new Set([...hops].filter((h) => !neighbours.some((n) => n.dst === h && n.lladdr !== undefined)));
    if (unresolved.size === hops.size) return unresolved;
    const seeds = tunnelNeighbourSeeds(t.device, hops, neighbours, await t.appctl.call('tnl/neigh/show'));
    for (const s of seeds) await t.appctl.tnlNeighSet(t.device, s.ip, s.mac);
    if (seeds.length > 0) log.info('tunnel next hops handed to OVS', { device: t.device, hops: seeds });
    return unresolved;
  }

  /** Polls the kernel for up to 10 s until the given next hops are resolved, seeding OVS as they are. */
  private async seedWhenResolved(pending: Set<string>): Promise<void> {
    const t = this.d.tunnelNeighbours!;
    try {
      for (let i = 0; i < 50 && pending.size > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const still = await this.seedOvs(pending, await this.kernelNeighbours(t.device));
        for (const h of [...pending]) if (!still.has(h)) pending.delete(h);
      }
    } catch (e) {
      log.warn('handing tunnel next hops to OVS failed', { device: t.device, error: errorMessage(e) });
    }
  }

  /** Host routes: remote podCIDR via its gateway IP, onlink through loom-gw0, with the pod MTU. */
  async syncRoutes(): Promise<void> {
    const gw = this.d.gatewayInterface;
    const r = await execa('ip', ['-j', 'route', 'show', 'dev', gw]);
    const existing = (JSON.parse(r.stdout || '[]') as Array<{ dst: string; gateway?: string; protocol?: string }>).filter((x) => x.protocol !== 'kernel');
    const want = new Map([...this.peers.values()].map((p) => [p.podCidr, remoteGatewayIp(p.podCidr)]));
    const cmds: string[] = [];
    for (const [dst, via] of want) {
      const cur = existing.find((e) => e.dst === dst);
      if (!cur || cur.gateway !== via) cmds.push(`route replace ${dst} via ${via} dev ${gw} onlink mtu ${this.d.podMtu}`);
    }
    for (const e of existing) {
      if (!want.has(e.dst) && parseCidr(e.dst)) cmds.push(`route del ${e.dst} dev ${gw}`);
    }
    if (cmds.length > 0) await execa('ip', ['-batch', '-'], { input: cmds.join('\n') });
  }

  get peerCount(): number {
    return this.peers.size;
  }
}
