// Flow sets used to compare the native OpenFlow encoder with the ovs-ofctl text path: one flow per
// match field and action type (the same set as test/integration/ofctl.test.ts), plus real builder
// output (base pipeline, pods, tunnel, remote nodes, NetworkPolicy flows with conjunctions, ipBlock
// except, endPort ranges and named ports).
import { CT_ZONE, Table, type Flow } from '../../src/pipeline/flow.js';
import { flowKey } from '../../src/ovs/flow-syntax.js';
import { CookieKind, makeCookie } from '../../src/pipeline/cookie.js';
import { baseFlows, podFlows, type NodeNetwork } from '../../src/pipeline/pipeline.js';
import { remoteNodeFlows, tunnelBaseFlows } from '../../src/pipeline/tunnel.js';
import { compileNodePolicies } from '../../src/policy/compiler.js';
import type { LocalPod, PodInfo, V1NetworkPolicy } from '../../src/policy/types.js';

const pod = (round: number, id: number) => makeCookie(round, CookieKind.Pod, id);
const MAC = 'aa:bb:cc:dd:ee:01';

/** One flow per match field and action type: the whole flow syntax, for the ovs-ofctl and native round trips. */
export function syntaxFlows(round: number): Flow[] {
  return [
    { table: Table.Classifier, priority: 200, cookie: pod(round, 1), match: { protocol: 'arp' }, actions: [{ type: 'goto', table: Table.ArpResponder }] },
    {
      table: Table.SpoofGuard, priority: 200, cookie: pod(round, 1),
      match: { protocol: 'ip', inPort: 5, dlSrc: 'AA:BB:CC:DD:EE:01', nwSrc: '10.244.1.5/32', regs: [{ reg: 0, value: 1, bits: [0, 3] }] },
      actions: [{ type: 'loadReg', reg: 0, value: 1, bits: [0, 3] }, { type: 'goto', table: Table.Conntrack }],
    },
    {
      table: Table.ArpResponder, priority: 200, cookie: pod(round, 1),
      match: { protocol: 'arp', arpOp: 1, arpTpa: '10.244.1.1', arpSpa: '10.244.1.0/24', arpSha: MAC },
      actions: [{ type: 'arpReply', mac: 'aa:bb:cc:00:00:01', ip: '10.244.1.1' }],
    },
    { table: Table.Conntrack, priority: 200, cookie: pod(round, 2), match: { protocol: 'ip' }, actions: [{ type: 'ct', zone: CT_ZONE, table: Table.ConntrackState }] },
    { table: Table.ConntrackState, priority: 210, cookie: pod(round, 2), match: { ctState: '+trk+inv', protocol: 'ip' }, actions: [{ type: 'drop' }] },
    { table: Table.EgressRule, priority: 200, cookie: pod(round, 3), match: { protocol: 'tcp', nwSrc: '10.0.0.0/8', tpDst: { port: 0x50, mask: 0xfff0 } }, actions: [{ type: 'conjunction', id: 7, clause: 1, nClauses: 3 }] },
    { table: Table.EgressRule, priority: 200, cookie: pod(round, 3), match: { protocol: 'udp', tpSrc: { port: 53 } }, actions: [{ type: 'conjunction', id: 7, clause: 2, nClauses: 3 }] },
    { table: Table.EgressRule, priority: 200, cookie: pod(round, 3), match: { conjId: 7, protocol: 'ip' }, actions: [{ type: 'loadReg', reg: 2, value: 7 }, { type: 'goto', table: Table.EgressDefault }] },
    {
      table: Table.L3Forwarding, priority: 200, cookie: pod(round, 4), match: { protocol: 'ip', nwDst: '10.244.2.0/24' },
      actions: [{ type: 'setField', field: 'eth_dst', value: 'AA:BB:CC:00:00:02' }, { type: 'setField', field: 'tun_dst', value: '192.168.1.2' }, { type: 'setField', field: 'tun_id', value: '0' }, { type: 'decTtl' }, { type: 'goto', table: Table.L2Forwarding }],
    },
    { table: Table.L2Forwarding, priority: 200, cookie: pod(round, 4), match: { dlDst: MAC }, actions: [{ type: 'loadReg', reg: 1, value: 5 }, { type: 'goto', table: Table.IngressRule }] },
    { table: Table.IngressRule, priority: 200, cookie: pod(round, 5), match: { ctLabel: { value: 1n, mask: 0xffffffffn }, protocol: 'ip', tunId: 5, tunSrc: '192.168.1.3' }, actions: [{ type: 'output', port: 5 }] },
    { table: Table.IngressDefault, priority: 0, cookie: pod(round, 5), match: {}, actions: [] },
    {
      table: Table.ConntrackCommit, priority: 200, cookie: pod(round, 6), match: { ctState: '+new+trk', protocol: 'ip' },
      actions: [{ type: 'ct', zone: CT_ZONE, commit: true, table: Table.Output, execMoves: [{ src: 'NXM_NX_REG2[]', dst: 'NXM_NX_CT_LABEL[0..31]' }, { src: 'NXM_NX_REG3[]', dst: 'NXM_NX_CT_LABEL[32..63]' }] }],
    },
    { table: Table.Output, priority: 200, cookie: pod(round, 6), match: { regs: [{ reg: 1, value: 5 }] }, actions: [{ type: 'outputReg', reg: 1 }] },
    { table: Table.Output, priority: 190, cookie: pod(round, 6), match: { inPort: 5 }, actions: [{ type: 'inPort' }] },
    // zero values: OVS prints them as "0", not "0x0"
    {
      table: Table.Output, priority: 180, cookie: pod(round, 6), match: { regs: [{ reg: 0, value: 0, bits: [0, 3] }, { reg: 3, value: 0 }], ctLabel: { value: 0n, mask: 0xffn }, tunId: 0 },
      actions: [{ type: 'loadReg', reg: 2, value: 0 }, { type: 'loadReg', reg: 0, value: 0, bits: [4, 7] }, { type: 'output', port: 2 }],
    },
  ];
}

/** Extra shapes the builders do not produce today but the Match/Action types allow. */
export function edgeFlows(round: number): Flow[] {
  const c = pod(round, 9);
  return [
    { table: 100, priority: 1, cookie: c, match: { protocol: 'sctp', tpSrc: { port: 1000, mask: 0xfff8 }, tpDst: { port: 0, mask: 0 }, nwDst: '0.0.0.0/0' }, actions: [{ type: 'drop' }] },
    { table: 100, priority: 2, cookie: c, match: { protocol: 'icmp', ctState: '-est+rpl-snat+dnat', ctLabel: { value: (1n << 127n) | 5n } }, actions: [{ type: 'ct', zone: 7 }] },
    { table: 100, priority: 3, cookie: c, match: { regs: [{ reg: 15, value: 0xffffffff }, { reg: 7, value: 3, bits: [30, 31] }, { reg: 6, value: 1, bits: [0, 0] }] }, actions: [{ type: 'loadReg', reg: 15, value: 1, bits: [31, 31] }, { type: 'goto', table: 101 }] },
    { table: 100, priority: 4, cookie: c, match: { protocol: 'arp', arpOp: 2, arpSpa: '0.0.0.0/0', arpTpa: '10.9.8.0/23' }, actions: [{ type: 'move', src: 'NXM_OF_ARP_TPA[]', dst: 'NXM_NX_REG4[]' }, { type: 'move', src: 'NXM_NX_REG4[0..15]', dst: 'NXM_NX_REG5[16..31]' }, { type: 'output', port: 0xfeff }] },
    { table: 100, priority: 5, cookie: c, match: { tunId: 0xffffffff, inPort: 0xfeff }, actions: [{ type: 'conjunction', id: 0xffffffff, clause: 64, nClauses: 64 }] },
    { table: 100, priority: 5, cookie: c, match: { conjId: 0xffffffff }, actions: [{ type: 'goto', table: 253 }] },
    { table: 253, priority: 0xffff, cookie: 0xffff_ffff_ffff_fffen, match: { dlSrc: '00:00:00:00:00:00', dlDst: 'FF:FF:FF:FF:FF:FF' }, actions: [{ type: 'setField', field: 'tun_id', value: '0xffffffffffffffff' }, { type: 'outputReg', reg: 15 }] },
  ];
}

export const NODE_NET: NodeNetwork = { gatewayOfport: 2, gatewayMac: '0a:58:0a:f4:01:01', gatewayIp: '10.244.1.1', podCidr: '10.244.1.0/24' };

/** Base pipeline, 3 pods, tunnel and 2 remote nodes: what a node installs without policies. */
export function builderFlows(round: number, podCount = 3): Flow[] {
  const out: Flow[] = [...baseFlows(NODE_NET, round)];
  for (let i = 0; i < podCount; i++) {
    out.push(...podFlows(NODE_NET, { key: `c${i}/eth0`, ofport: 10 + i, mac: `0a:58:0a:f4:01:${(10 + i).toString(16).padStart(2, '0')}`, ip: `10.244.1.${10 + i}` }, round));
  }
  const tun = { ofport: 3, vni: 4096 };
  out.push(...tunnelBaseFlows(NODE_NET, tun, round));
  out.push(...remoteNodeFlows(NODE_NET, tun, { name: 'n2', podCidr: '10.244.2.0/24', nodeIp: '192.168.10.2' }, round));
  out.push(...remoteNodeFlows(NODE_NET, tun, { name: 'n3', podCidr: '10.244.3.0/24', nodeIp: '192.168.10.3' }, round));
  return out;
}

/** NetworkPolicy flows of node n1: selectors (conjunctions), ipBlock with except, endPort ranges, named ports, egress. */
export function policyFlows(round: number): Flow[] {
  const ports = [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }];
  const pods: PodInfo[] = [];
  const localPods: LocalPod[] = [];
  for (let i = 0; i < 4; i++) {
    const ip = `10.244.1.${10 + i}`;
    pods.push({ namespace: 'app', name: `web-${i}`, labels: { role: 'web' }, ips: [ip], nodeName: 'n1', containerPorts: ports });
    localPods.push({ namespace: 'app', name: `web-${i}`, ip, ofport: 10 + i });
    pods.push({ namespace: 'app', name: `client-${i}`, labels: { role: 'client' }, ips: [`10.244.2.${10 + i}`], nodeName: 'n2', containerPorts: [] });
  }
  const policies: V1NetworkPolicy[] = [
    {
      metadata: { namespace: 'app', name: 'web-ingress', uid: 'u1' },
      spec: {
        podSelector: { matchLabels: { role: 'web' } },
        ingress: [
          { _from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 9000, endPort: 9100 }] },
          { _from: [{ ipBlock: { cidr: '172.16.0.0/16', except: ['172.16.4.0/24', '172.16.200.7/32'] } }], ports: [{ protocol: 'UDP', port: 'dns' }, { protocol: 'SCTP', port: 3868 }] },
          { _from: [{ namespaceSelector: {} }] },
        ],
      },
    },
    {
      metadata: { namespace: 'app', name: 'web-egress', uid: 'u2' },
      spec: {
        podSelector: { matchLabels: { role: 'web' } },
        policyTypes: ['Egress'],
        egress: [
          { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }], ports: [{ protocol: 'TCP', port: 443 }] },
          { to: [{ podSelector: { matchLabels: { role: 'client' } } }] },
          { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 32768, endPort: 60999 }] },
        ],
      },
    } as unknown as V1NetworkPolicy,
  ];
  const out = compileNodePolicies({ pods, localPods, policies, namespaces: [{ name: 'app', labels: {} }], nodeAddresses: ['10.244.1.1', '192.168.10.1'], round });
  if (out.warnings.length > 0) throw new Error(`policy fixture compiled with warnings: ${JSON.stringify(out.warnings)}`);
  return out.flows;
}

/** Everything above, deduplicated by OVS identity (table, priority, canonical match; later sets win), for one bridge. */
export function representativeFlows(round: number): Flow[] {
  const byKey = new Map<string, Flow>();
  for (const f of [...syntaxFlows(round), ...builderFlows(round), ...policyFlows(round), ...edgeFlows(round)]) {
    byKey.set(flowKey(f), f);
  }
  return [...byKey.values()];
}
