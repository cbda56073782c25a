// Remote nodes -> tunnel flows and host routes. Level-triggered: sync() takes every Node the
// informer knows and converges flows and routes to it; unchanged nodes cost nothing.
import type * as k8s from '@kubernetes/client-node';
import { execa } from 'execa';
import { nodeInfoOf } from '../k8s/node.js';
import { CookieKind } from '../pipeline/cookie.js';
import type { Flow } from '../pipeline/flow.js';
import type { NodeNetwork } from '../pipeline/pipeline.js';
import { nodeCookieId, remoteGatewayIp, remoteNodeFlows, tunnelBaseFlows, type RemoteNode, type TunnelConfig } from '../pipeline/tunnel.js';
import { parseCidr, parseIpv4 } from '../util/ipv4.js';
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
    await this.syncRoutes();
    this.d.onPeers?.(this.peers.size);
    log.info('overlay peers updated', {
      added: changed.map((n) => ({ node: n.name, podCidr: n.podCidr, nodeIp: n.nodeIp })),
      removed: removed.map((n) => n.name),
      peers: this.peers.size,
    });
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
