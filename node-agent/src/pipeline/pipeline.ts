// The node's OpenFlow pipeline as pure functions: the base flows every node has, and the flows of
// one local pod. Policy tables (30, 35, 60, 65) get only their miss flows here; the NetworkPolicy
// compiler owns the rest of them. Tunnel flows come from pipeline/tunnel.ts.
import { CookieKind, makeCookie, objectId } from './cookie.js';
import {
  CT_ZONE,
  type Action,
  type Flow,
  type Match,
  PacketSource,
  Priority,
  Reg,
  Table,
  drop,
  goto,
} from './flow.js';

/** MAC every node uses as destination for packets routed through the overlay (never on a wire). */
export const VIRTUAL_ROUTER_MAC = '02:4c:4f:4f:4d:01';

export interface NodeNetwork {
  gatewayOfport: number;
  gatewayMac: string;
  gatewayIp: string;
  /** this node's pod subnet, e.g. 10.244.1.0/24 */
  podCidr: string;
}

export interface PodAttachment {
  /** containerId + "/" + ifname: the identity of an attachment */
  key: string;
  ofport: number;
  mac: string;
  ip: string;
}

export function podAttachmentKey(containerId: string, ifname: string): string {
  return `${containerId}/${ifname}`;
}

export function podCookieId(key: string): number {
  return objectId(`pod/${key}`);
}

const flow = (table: number, priority: number, match: Match, actions: Action[], cookie: bigint): Flow => ({
  table,
  priority,
  match,
  actions,
  cookie,
});

const setSource = (source: number): Action => ({ type: 'loadReg', reg: Reg.Source, value: source, bits: [0, 3] });

/** Flows that do not depend on any pod: table miss flows, gateway handling, conntrack. */
export function baseFlows(net: NodeNetwork, round: number): Flow[] {
  const c = makeCookie(round, CookieKind.Pipeline, 0);
  const gw = net.gatewayOfport;
  return [
    // Classifier: the gateway's ARP goes to the responder, its IP traffic into conntrack.
    flow(Table.Classifier, Priority.Normal, { inPort: gw, protocol: 'arp' }, [goto(Table.ArpResponder)], c),
    flow(Table.Classifier, Priority.Low, { inPort: gw, protocol: 'ip' }, [setSource(PacketSource.Gateway), goto(Table.Conntrack)], c),
    flow(Table.Classifier, Priority.Default, {}, [drop], c),
    // SpoofGuard: only per-pod allow flows; everything else is dropped.
    flow(Table.SpoofGuard, Priority.Default, {}, [drop], c),
    // ARP responder: answers for the gateway; per-pod answers come with each pod.
    flow(
      Table.ArpResponder,
      Priority.Normal,
      { protocol: 'arp', arpOp: 1, arpTpa: net.gatewayIp },
      [{ type: 'arpReply', mac: net.gatewayMac, ip: net.gatewayIp }],
      c,
    ),
    flow(Table.ArpResponder, Priority.Default, {}, [drop], c),
    // Conntrack.
    flow(Table.Conntrack, Priority.Normal, { protocol: 'ip' }, [{ type: 'ct', zone: CT_ZONE, table: Table.ConntrackState }], c),
    flow(Table.Conntrack, Priority.Default, {}, [drop], c),
    flow(Table.ConntrackState, Priority.Normal, { protocol: 'ip', ctState: '+inv+trk' }, [drop], c),
    flow(Table.ConntrackState, Priority.Default, {}, [goto(Table.EgressRule)], c),
    // Policy tables: miss flows only.
    flow(Table.EgressRule, Priority.Default, {}, [goto(Table.EgressDefault)], c),
    flow(Table.EgressDefault, Priority.Default, {}, [goto(Table.L3Forwarding)], c),
    // L3: default is "leave as is" (local L2 traffic, or to the gateway).
    flow(Table.L3Forwarding, Priority.Default, {}, [goto(Table.L2Forwarding)], c),
    // L2: the gateway's MAC leads to the gateway port.
    flow(
      Table.L2Forwarding,
      Priority.Normal,
      { dlDst: net.gatewayMac },
      [{ type: 'loadReg', reg: Reg.OutPort, value: gw }, goto(Table.IngressRule)],
      c,
    ),
    flow(Table.L2Forwarding, Priority.Default, {}, [drop], c),
    flow(Table.IngressRule, Priority.Default, {}, [goto(Table.IngressDefault)], c),
    flow(Table.IngressDefault, Priority.Default, {}, [goto(Table.ConntrackCommit)], c),
    // Commit new connections; the rule ids that allowed them go into ct_label.
    flow(
      Table.ConntrackCommit,
      Priority.Normal,
      { protocol: 'ip', ctState: '+new+trk' },
      [
        {
          type: 'ct',
          zone: CT_ZONE,
          commit: true,
          execMoves: [
            { src: 'NXM_NX_REG2[]', dst: 'NXM_NX_CT_LABEL[0..31]' },
            { src: 'NXM_NX_REG3[]', dst: 'NXM_NX_CT_LABEL[32..63]' },
          ],
        },
        goto(Table.Output),
      ],
      c,
    ),
    flow(Table.ConntrackCommit, Priority.Default, {}, [goto(Table.Output)], c),
    flow(Table.Output, Priority.Default, {}, [{ type: 'outputReg', reg: Reg.OutPort }], c),
  ];
}

/** Flows of one local pod: classification, spoofguard, ARP answer, L3 (routed in) and L2 delivery. */
export function podFlows(net: NodeNetwork, pod: PodAttachment, round: number): Flow[] {
  const c = makeCookie(round, CookieKind.Pod, podCookieId(pod.key));
  return [
    flow(Table.Classifier, Priority.Low, { inPort: pod.ofport }, [setSource(PacketSource.Pod), goto(Table.SpoofGuard)], c),
    flow(
      Table.SpoofGuard,
      Priority.Normal,
      { inPort: pod.ofport, protocol: 'ip', dlSrc: pod.mac, nwSrc: pod.ip },
      [goto(Table.Conntrack)],
      c,
    ),
    flow(
      Table.SpoofGuard,
      Priority.Normal,
      { inPort: pod.ofport, protocol: 'arp', dlSrc: pod.mac, arpSpa: pod.ip, arpSha: pod.mac },
      [goto(Table.ArpResponder)],
      c,
    ),
    flow(
      Table.ArpResponder,
      Priority.Normal,
      { protocol: 'arp', arpOp: 1, arpTpa: pod.ip },
      [{ type: 'arpReply', mac: pod.mac, ip: pod.ip }],
      c,
    ),
    // Routed to this pod (from the overlay): rewrite MACs, decrement TTL.
    flow(
      Table.L3Forwarding,
      Priority.Normal,
      { protocol: 'ip', dlDst: VIRTUAL_ROUTER_MAC, nwDst: pod.ip },
      [
        { type: 'setField', field: 'eth_src', value: net.gatewayMac },
        { type: 'setField', field: 'eth_dst', value: pod.mac },
        { type: 'decTtl' },
        goto(Table.L2Forwarding),
      ],
      c,
    ),
    flow(
      Table.L2Forwarding,
      Priority.Normal,
      { dlDst: pod.mac },
      [{ type: 'loadReg', reg: Reg.OutPort, value: pod.ofport }, goto(Table.IngressRule)],
      c,
    ),
  ];
}
