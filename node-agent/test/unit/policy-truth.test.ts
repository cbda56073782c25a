// Truth tables in the style of the upstream Kubernetes netpol e2e model: namespaces x, y, z; pods
// a, b, c labelled pod=<name>; servers on 80/81 TCP+UDP with named ports serve-<port>-<proto>.
// Pods are spread over two nodes; each node runs its own incremental PolicyCompiler and the flows
// are evaluated with the policy-table simulator (egress on the source node, ingress on the
// destination node, tunnel in between).
import assert from 'node:assert/strict';
import { flowIdentity, PacketSource, Table, type Flow } from '../../src/pipeline/flow.js';
import { compileNodePolicies, PolicyCompiler } from '../../src/policy/compiler.js';
import { indexFlows, simulate, type SimPacket } from '../../src/policy/simulate.js';
import type { FlowDiff, LocalPod, NamespaceInfo, PodInfo, V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '../../src/policy/types.js';

const NAMESPACES = ['x', 'y', 'z'];
const POD_NAMES = ['a', 'b', 'c'];
const NODES = ['n1', 'n2'];
const NODE_ADDRESS: Record<string, string> = { n1: '192.168.10.1', n2: '192.168.10.2' };
type Proto = 'tcp' | 'udp' | 'sctp';

function servePorts(): PodInfo['containerPorts'] {
  const out: PodInfo['containerPorts'] = [];
  for (const port of [80, 81]) for (const p of ['TCP', 'UDP', 'SCTP']) out.push({ name: `serve-${port}-${p.toLowerCase()}`, containerPort: port, protocol: p });
  return out;
}

class TestNode {
  readonly compiler: PolicyCompiler;
  readonly installed = new Map<string, Flow>();
  constructor(readonly name: string) {
    this.compiler = new PolicyCompiler({ nodeAddresses: [NODE_ADDRESS[name] as string] });
  }
  apply(diff: FlowDiff): void {
    for (const f of diff.delete) assert.ok(this.installed.delete(flowIdentity(f)), `delete of a flow that is not installed: ${flowIdentity(f)}`);
    for (const f of diff.modify) {
      assert.ok(this.installed.has(flowIdentity(f)), `modify of a flow that is not installed: ${flowIdentity(f)}`);
      this.installed.set(flowIdentity(f), f);
    }
    for (const f of diff.add) {
      assert.ok(!this.installed.has(flowIdentity(f)), `add of a flow already installed: ${flowIdentity(f)}`);
      this.installed.set(flowIdentity(f), f);
    }
  }
}

class TestCluster {
  readonly namespaces = new Map<string, NamespaceInfo>();
  readonly pods = new Map<string, PodInfo>();
  readonly policies = new Map<string, V1NetworkPolicy>();
  readonly nodes = new Map<string, TestNode>();
  readonly local = new Map<string, LocalPod[]>();

  constructor() {
    for (const n of NODES) {
      this.nodes.set(n, new TestNode(n));
      this.local.set(n, []);
    }
    for (const ns of NAMESPACES) this.upsertNamespace({ name: ns, labels: { 'kubernetes.io/metadata.name': ns, ns } });
    let i = 0;
    for (const ns of NAMESPACES) {
      for (const name of POD_NAMES) {
        const node = NODES[i % 2] as string;
        const ip = `10.${node === 'n1' ? 1 : 2}.0.${10 + i}`;
        this.upsertPod({ namespace: ns, name, labels: { pod: name }, ips: [ip], nodeName: node, containerPorts: servePorts() });
        this.local.get(node)?.push({ namespace: ns, name, ip, ofport: 10 + i });
        i++;
      }
    }
    for (const [n, node] of this.nodes) node.apply(node.compiler.setLocalPods(this.local.get(n) ?? []));
  }

  private each(f: (n: TestNode) => FlowDiff): void {
    for (const node of this.nodes.values()) node.apply(f(node));
  }
  upsertNamespace(ns: NamespaceInfo): void {
    this.namespaces.set(ns.name, ns);
    this.each((n) => n.compiler.upsertNamespace(ns));
  }
  upsertPod(p: PodInfo): void {
    this.pods.set(`${p.namespace}/${p.name}`, p);
    this.each((n) => n.compiler.upsertPod(p));
  }
  apply(p: V1NetworkPolicy): void {
    this.policies.set(`${p.metadata?.namespace}/${p.metadata?.name}`, p);
    this.each((n) => n.compiler.upsertPolicy(p));
  }
  delete(namespace: string, name: string): void {
    this.policies.delete(`${namespace}/${name}`);
    this.each((n) => n.compiler.deletePolicy(namespace, name));
  }
  pod(key: string): PodInfo {
    const p = this.pods.get(key);
    assert.ok(p, `no pod ${key}`);
    return p;
  }

  /** The incremental state must equal a from-scratch compile of the same snapshot. */
  checkAgainstFullCompile(): void {
    for (const [n, node] of this.nodes) {
      const full = compileNodePolicies({
        pods: this.pods.values(),
        namespaces: this.namespaces.values(),
        policies: this.policies.values(),
        localPods: this.local.get(n) ?? [],
        nodeAddresses: [NODE_ADDRESS[n] as string],
      });
      const want = new Map(full.flows.map((f) => [flowIdentity(f), f]));
      assert.deepEqual([...node.installed.keys()].sort(), [...want.keys()].sort(), `node ${n}: incremental flow set differs from a full compile`);
      for (const [id, f] of want) assert.deepEqual(node.installed.get(id)?.actions, f.actions, `node ${n}: actions of ${id}`);
    }
  }

  /** Would a new connection src -> dst (proto/port) get through both nodes' policy tables? */
  allowed(src: string, dst: string, protocol: Proto, port: number, ct: string[] = ['new', 'trk']): boolean {
    const s = this.pod(src);
    const d = this.pod(dst);
    const pkt = (source: number): SimPacket => ({ srcIp: s.ips[0] as string, dstIp: d.ips[0] as string, protocol, dstPort: port, source, ct });
    const flows = (node: string) => indexFlows([...(this.nodes.get(node)?.installed.values() ?? [])]);
    const srcFlows = flows(s.nodeName);
    if (simulate(srcFlows, Table.EgressRule, pkt(PacketSource.Pod)).verdict === 'drop') return false;
    if (s.nodeName === d.nodeName) return simulate(srcFlows, Table.IngressRule, pkt(PacketSource.Pod)).verdict === 'allow';
    if (simulate(srcFlows, Table.IngressRule, pkt(PacketSource.Pod)).verdict === 'drop') return false;
    const dstFlows = flows(d.nodeName);
    if (simulate(dstFlows, Table.EgressRule, pkt(PacketSource.Tunnel)).verdict === 'drop') return false;
    return simulate(dstFlows, Table.IngressRule, pkt(PacketSource.Tunnel)).verdict === 'allow';
  }

  /** Compare the full pod x pod truth table for one protocol/port against `expect`. */
  assertTable(protocol: Proto, port: number, expect: (src: string, dst: string) => boolean): void {
    this.checkAgainstFullCompile();
    const wrong: string[] = [];
    const keys = [...this.pods.keys()];
    for (const src of keys) {
      for (const dst of keys) {
        if (src === dst) continue; // loopback never reaches the bridge
        const got = this.allowed(src, dst, protocol, port);
        const want = expect(src, dst);
        if (got !== want) wrong.push(`${src} -> ${dst} ${protocol}/${port}: got ${got ? 'allowed' : 'denied'}, want ${want ? 'allowed' : 'denied'}`);
      }
    }
    assert.deepEqual(wrong, [], `truth table mismatches:\n${wrong.join('\n')}`);
  }
}

const ns = (key: string) => key.split('/')[0];
const podName = (key: string) => key.split('/')[1];
const ALL = () => true;

function policy(namespace: string, name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name, uid: `uid-${namespace}-${name}` }, spec };
}
const podSel = (name: string) => ({ matchLabels: { pod: name } });
const nsSel = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
const ingressFrom = (namespace: string, target: string, from: V1NetworkPolicyPeer[] | undefined, ports?: V1NetworkPolicyPort[]) =>
  policy(namespace, `allow-${target}`, { podSelector: podSel(target), policyTypes: ['Ingress'], ingress: [{ _from: from, ports }] });

describe('policy truth tables (upstream netpol model)', () => {
  let c: TestCluster;
  beforeEach(() => {
    c = new TestCluster();
  });

  it('no policy: everything is allowed', () => {
    c.assertTable('tcp', 80, ALL);
    c.assertTable('udp', 81, ALL);
  });

  it('default deny ingress in x', () => {
    c.apply(policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    c.assertTable('tcp', 80, (_s, d) => ns(d) !== 'x');
  });

  it('default deny egress in x', () => {
    c.apply(policy('x', 'deny', { podSelector: {}, policyTypes: ['Egress'] }));
    c.assertTable('tcp', 80, (s) => ns(s) !== 'x');
    c.assertTable('udp', 81, (s) => ns(s) !== 'x');
  });

  it('default deny all in x', () => {
    c.apply(policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    c.assertTable('tcp', 80, (s, d) => ns(s) !== 'x' && ns(d) !== 'x');
  });

  it('empty ingress list and inferred policyTypes isolate', () => {
    c.apply(policy('x', 'deny', { podSelector: podSel('a'), ingress: [] }));
    c.apply(policy('y', 'deny-egress', { podSelector: podSel('b'), egress: [{ to: [{ podSelector: podSel('c') }] }] }));
    // y/b: egress inferred (egress rules present) -> only to y/c; ingress also isolated (always inferred) with no rule
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' && d !== 'y/b' && (s !== 'y/b' || d === 'y/c'));
  });

  it('podSelector: x/a only from x/b', () => {
    c.apply(ingressFrom('x', 'a', [{ podSelector: podSel('b') }]));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s === 'x/b');
  });

  it('namespaceSelector: x/a only from namespace y', () => {
    c.apply(ingressFrom('x', 'a', [{ namespaceSelector: nsSel('y') }]));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || ns(s) === 'y');
  });

  it('podSelector AND namespaceSelector in one peer: only y/b', () => {
    c.apply(ingressFrom('x', 'a', [{ namespaceSelector: nsSel('y'), podSelector: podSel('b') }]));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s === 'y/b');
  });

  it('separate peers are ORed: namespace y or x/b', () => {
    c.apply(ingressFrom('x', 'a', [{ namespaceSelector: nsSel('y') }, { podSelector: podSel('b') }]));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || ns(s) === 'y' || s === 'x/b');
  });

  it('matchExpressions In / NotIn / Exists / DoesNotExist', () => {
    c.upsertNamespace({ name: 'z', labels: { 'kubernetes.io/metadata.name': 'z', ns: 'z', team: 'blue' } });
    c.apply(ingressFrom('x', 'a', [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] } }]));
    c.apply(ingressFrom('y', 'a', [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['y', 'z'] }] } }]));
    c.apply(ingressFrom('z', 'a', [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] } }]));
    c.apply(ingressFrom('z', 'b', [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, podSelector: podSel('a') }]));
    c.assertTable('tcp', 80, (s, d) => {
      if (d === 'x/a') return s === 'x/b' || s === 'x/c';
      if (d === 'y/a') return ns(s) === 'x';
      if (d === 'z/a') return ns(s) === 'z';
      if (d === 'z/b') return (ns(s) === 'x' || ns(s) === 'y') && podName(s) === 'a';
      return true;
    });
  });

  it('numeric port, ingress: x/a only on TCP 80', () => {
    c.apply(ingressFrom('x', 'a', undefined, [{ protocol: 'TCP', port: 80 }]));
    c.assertTable('tcp', 80, ALL);
    c.assertTable('tcp', 81, (_s, d) => d !== 'x/a');
    c.assertTable('udp', 80, (_s, d) => d !== 'x/a');
  });

  it('named port, ingress: x/a only on serve-81-tcp', () => {
    c.apply(ingressFrom('x', 'a', [{ namespaceSelector: {} }], [{ port: 'serve-81-tcp' }]));
    c.assertTable('tcp', 81, ALL);
    c.assertTable('tcp', 80, (_s, d) => d !== 'x/a');
    c.assertTable('udp', 81, (_s, d) => d !== 'x/a');
  });

  it('endPort range, ingress: x/a on TCP 80-81 only', () => {
    c.apply(ingressFrom('x', 'a', [{ namespaceSelector: {} }], [{ protocol: 'TCP', port: 80, endPort: 81 }]));
    c.assertTable('tcp', 80, ALL);
    c.assertTable('tcp', 81, ALL);
    c.assertTable('tcp', 82, (_s, d) => d !== 'x/a');
    c.assertTable('udp', 80, (_s, d) => d !== 'x/a');
  });

  it('numeric, named and endPort ports, egress', () => {
    c.apply(policy('x', 'eg-a', { podSelector: podSel('a'), policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] }));
    c.apply(policy('x', 'eg-b', { podSelector: podSel('b'), policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ protocol: 'UDP', port: 'serve-81-udp' }] }] }));
    c.apply(policy('x', 'eg-c', { podSelector: podSel('c'), policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 79, endPort: 80 }] }] }));
    c.assertTable('tcp', 80, (s) => s !== 'x/b' && s !== 'x/c');
    c.assertTable('tcp', 81, (s) => ns(s) !== 'x');
    c.assertTable('udp', 81, (s) => s !== 'x/a' && s !== 'x/c');
    c.assertTable('udp', 80, (s) => s !== 'x/a' && s !== 'x/b');
  });

  it('a named port that resolves to different numbers per pod stays exact (ingress and egress)', () => {
    const web: Record<string, number> = { a: 8080, b: 9090 };
    for (const key of [...c.pods.keys()]) {
      const p = c.pod(key);
      const port = web[p.name];
      c.upsertPod({ ...p, containerPorts: port ? [...servePorts(), { name: 'web', containerPort: port, protocol: 'TCP' }] : servePorts() });
    }
    c.apply(policy('x', 'web-in', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ ports: [{ port: 'web' }] }] }));
    c.apply(policy('y', 'web-out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsSel('z') }], ports: [{ port: 'web' }] }] }));
    const expectFor = (port: number) => (s: string, d: string) => {
      const dstWeb = web[podName(d) as string];
      if (ns(d) === 'x' && dstWeb !== port) return false;
      if (ns(s) === 'y' && !(ns(d) === 'z' && dstWeb === port)) return false;
      return true;
    };
    c.assertTable('tcp', 8080, expectFor(8080));
    c.assertTable('tcp', 9090, expectFor(9090));
    c.assertTable('tcp', 80, expectFor(80));
    // x/a (8080) is on n1, x/b (9090) on n2: each node compiles only its own targets' resolution
    const groups = (node: string) => [...(c.nodes.get(node)?.compiler.rules().values() ?? [])].filter((r) => r.name === 'web-in').map((r) => r.portGroup);
    assert.deepEqual(groups('n1'), ['named:tcp:8080']);
    assert.deepEqual(groups('n2'), ['named:tcp:9090']);
    // egress from y (y/a, y/c on n2... ) splits per destination resolution: z/a -> 8080, z/b -> 9090
    const egress = [...(c.nodes.get('n2')?.compiler.rules().values() ?? [])].filter((r) => r.name === 'web-out').map((r) => r.portGroup).sort();
    assert.deepEqual(egress, ['named:tcp:8080', 'named:tcp:9090'], 'one conjunction per resolved port');
  });

  it('ipBlock with except, and its update', () => {
    const yb = c.pod('y/b').ips[0] as string;
    const block = (except: string[]) =>
      policy('x', 'cidr', { podSelector: podSel('a'), policyTypes: ['Ingress'], ingress: [{ _from: [{ ipBlock: { cidr: '10.0.0.0/8', except } }] }] });
    c.apply(block([`${yb}/32`]));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s !== 'y/b');
    c.apply(block(['10.2.0.0/16']));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || c.pod(s).nodeName !== 'n2');
  });

  it('egress ipBlock with except', () => {
    c.apply(policy('y', 'cidr-out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.1.0.0/16', except: ['10.1.0.10/31'] } }] }] }));
    // 10.1.0.10 = x/a, 10.1.0.12 = x/c, ... : y pods reach n1 pods except x/a (and .11, none)
    c.assertTable('tcp', 80, (s, d) => ns(s) !== 'y' || (c.pod(d).nodeName === 'n1' && d !== 'x/a'));
  });

  it('allowing only UDP does not allow TCP (nor SCTP)', () => {
    c.apply(ingressFrom('x', 'a', undefined, [{ protocol: 'UDP', port: 80 }]));
    c.assertTable('udp', 80, ALL);
    c.assertTable('tcp', 80, (_s, d) => d !== 'x/a');
    c.assertTable('sctp', 80, (_s, d) => d !== 'x/a');
  });

  it('stacked policies are additive', () => {
    c.apply(policy('x', 'one', { podSelector: podSel('a'), ingress: [{ _from: [{ podSelector: podSel('b') }] }] }));
    c.apply(policy('x', 'two', { podSelector: podSel('a'), ingress: [{ _from: [{ namespaceSelector: nsSel('z') }], ports: [{ port: 81 }] }] }));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s === 'x/b');
    c.assertTable('tcp', 81, (s, d) => d !== 'x/a' || s === 'x/b' || ns(s) === 'z');
  });

  it('a rule without from allows every source; other pods stay unaffected', () => {
    c.apply(policy('x', 'open', { podSelector: podSel('a'), ingress: [{}] }));
    c.apply(policy('x', 'deny-b', { podSelector: podSel('b'), ingress: [] }));
    c.assertTable('tcp', 80, (_s, d) => d !== 'x/b');
  });

  it('policy deletion restores traffic', () => {
    c.apply(policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    c.assertTable('tcp', 80, (s, d) => ns(s) !== 'x' && ns(d) !== 'x');
    c.delete('x', 'deny');
    c.assertTable('tcp', 80, ALL);
    for (const node of c.nodes.values()) assert.equal(node.compiler.rules().size, 0);
  });

  it('pod and namespace label updates are followed', () => {
    c.apply(ingressFrom('x', 'a', [{ podSelector: podSel('b') }, { namespaceSelector: { matchLabels: { env: 'prod' } } }]));
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s === 'x/b');
    c.upsertPod({ ...c.pod('x/c'), labels: { pod: 'b' } });
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s === 'x/b' || s === 'x/c');
    c.upsertNamespace({ name: 'z', labels: { 'kubernetes.io/metadata.name': 'z', env: 'prod' } });
    c.assertTable('tcp', 80, (s, d) => d !== 'x/a' || s === 'x/b' || s === 'x/c' || ns(s) === 'z');
    // the target itself loses its label: no longer selected, no longer isolated
    c.upsertPod({ ...c.pod('x/a'), labels: { pod: 'other' } });
    c.assertTable('tcp', 80, ALL);
  });

  it('traffic from the node itself (kubelet probes) is allowed into isolated pods; other gateway sources are not', () => {
    c.apply(policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    const xa = c.pod('x/a');
    const flows = indexFlows([...(c.nodes.get(xa.nodeName)?.installed.values() ?? [])]);
    const probe = (srcIp: string): SimPacket => ({ srcIp, dstIp: xa.ips[0] as string, protocol: 'tcp', dstPort: 80, source: PacketSource.Gateway });
    assert.equal(simulate(flows, Table.IngressRule, probe(NODE_ADDRESS[xa.nodeName] as string)).verdict, 'allow');
    assert.equal(simulate(flows, Table.IngressRule, probe('203.0.113.9')).verdict, 'drop');
  });

  it('established connections and replies bypass policy (connections survive policy changes, as in Antrea)', () => {
    c.apply(policy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }));
    assert.equal(c.allowed('y/a', 'x/b', 'tcp', 80), false);
    assert.equal(c.allowed('y/a', 'x/b', 'tcp', 80, ['est', 'trk']), true);
    assert.equal(c.allowed('x/b', 'y/a', 'tcp', 40000, ['est', 'rpl', 'trk']), true);
  });

  it('allowed connections carry the rule id in reg2/reg3 for the conntrack commit', () => {
    c.apply(ingressFrom('x', 'a', [{ podSelector: podSel('b') }]));
    const xa = c.pod('x/a');
    const xb = c.pod('x/b');
    const flows = indexFlows([...(c.nodes.get(xa.nodeName)?.installed.values() ?? [])]);
    const res = simulate(flows, Table.IngressRule, { srcIp: xb.ips[0] as string, dstIp: xa.ips[0] as string, protocol: 'tcp', dstPort: 80, source: PacketSource.Tunnel });
    assert.equal(res.verdict, 'allow');
    const ref = c.nodes.get(xa.nodeName)?.compiler.rules().get(res.regs[3] ?? 0);
    assert.deepEqual(ref && { ns: ref.namespace, name: ref.name, direction: ref.direction, index: ref.index }, { ns: 'x', name: 'allow-a', direction: 'ingress', index: 0 });
  });
});
