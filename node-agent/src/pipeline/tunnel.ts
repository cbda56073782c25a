// Overlay flows, pure: one tunnel port for all peers (remote_ip=flow, key=flow); per remote node
// an L3 flow sending its podCIDR into the tunnel towards the node's IP, and an ARP answer for its
// gateway IP (the host route to a remote podCIDR goes "via remote gateway onlink" through loom-gw0).
import { CookieKind, makeCookie, objectId } from './cookie.js';
import { type Flow, PacketSource, Priority, Reg, Table, goto } from './flow.js';
import { VIRTUAL_ROUTER_MAC, type NodeNetwork } from './pipeline.js';
import { formatIpv4, gatewayOf, parseCidr } from '../util/ipv4.js';

export interface TunnelConfig {
  ofport: number;
  vni: number;
}

export interface RemoteNode {
  name: string;
  podCidr: string;
  nodeIp: string;
}

export function nodeCookieId(name: string): number {
  return objectId(`node/${name}`);
}

export function remoteGatewayIp(podCidr: string): string {
  const c = parseCidr(podCidr);
  if (!c) throw new Error(`invalid podCIDR ${podCidr}`);
  return formatIpv4(gatewayOf(c));
}

/** Flows that exist once the node has a tunnel port, independent of peers. */
export function tunnelBaseFlows(net: NodeNetwork, t: TunnelConfig, round: number): Flow[] {
  const c = makeCookie(round, CookieKind.Pipeline, 1);
  return [
    {
      table: Table.Classifier,
      priority: Priority.Low,
      match: { inPort: t.ofport, protocol: 'ip' },
      actions: [{ type: 'loadReg', reg: Reg.Source, value: PacketSource.Tunnel, bits: [0, 3] }, goto(Table.Conntrack)],
      cookie: c,
    },
    // Routed to this node's gateway from the overlay (e.g. replies to the node's own traffic).
    {
      table: Table.L3Forwarding,
      priority: Priority.Normal,
      match: { protocol: 'ip', dlDst: VIRTUAL_ROUTER_MAC, nwDst: net.gatewayIp },
      actions: [{ type: 'setField', field: 'eth_dst', value: net.gatewayMac }, goto(Table.L2Forwarding)],
      cookie: c,
    },
    {
      table: Table.L2Forwarding,
      priority: Priority.Normal,
      match: { dlDst: VIRTUAL_ROUTER_MAC },
      actions: [{ type: 'loadReg', reg: Reg.OutPort, value: t.ofport }, goto(Table.IngressRule)],
      cookie: c,
    },
  ];
}

/** Flows for one remote node. */
export function remoteNodeFlows(net: NodeNetwork, t: TunnelConfig, node: RemoteNode, round: number): Flow[] {
  const c = makeCookie(round, CookieKind.Node, nodeCookieId(node.name));
  const gw = remoteGatewayIp(node.podCidr);
  return [
    {
      table: Table.L3Forwarding,
      priority: Priority.Low,
      match: { protocol: 'ip', nwDst: node.podCidr },
      actions: [
        { type: 'setField', field: 'eth_src', value: net.gatewayMac },
        { type: 'setField', field: 'eth_dst', value: VIRTUAL_ROUTER_MAC },
        { type: 'setField', field: 'tun_dst', value: node.nodeIp },
        { type: 'setField', field: 'tun_id', value: String(t.vni) },
        { type: 'decTtl' },
        goto(Table.L2Forwarding),
      ],
      cookie: c,
    },
    {
      table: Table.ArpResponder,
      priority: Priority.Normal,
      match: { protocol: 'arp', arpOp: 1, arpTpa: gw },
      actions: [{ type: 'arpReply', mac: VIRTUAL_ROUTER_MAC, ip: gw }],
      cookie: c,
    },
  ];
}
