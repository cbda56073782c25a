// Incremental behaviour of PolicyCompiler: minimal diffs, stable conjunction ids, and equality with
// a from-scratch compile after random churn.
import assert from 'node:assert/strict';
import { flowIdentity, Table, type Flow } from '../../src/pipeline/flow.js';
import { compileNodePolicies, PolicyCompiler } from '../../src/policy/compiler.js';
import type { FlowDiff, LocalPod, NamespaceInfo, PodInfo, V1NetworkPolicy } from '../../src/policy/types.js';

const pod = (namespace: string, name: string, ip: string, labels: Record<string, string>, nodeName = 'n1'): PodInfo => ({
  namespace,
  name,
  labels,
  ips: [ip],
  nodeName,
  containerPorts: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
});

const allowFrom = (name: string, target: string, from: string, port = 80): V1NetworkPolicy => ({
  metadata: { namespace: 'app', name },
  spec: {
    podSelector: { matchLabels: { role: target } },
    ingress: [{ _from: [{ podSelector: { matchLabels: { role: from } } }], ports: [{ protocol: 'TCP', port }] }],
  },
});

const empty = (d: FlowDiff) => d.add.length + d.modify.length + d.delete.length === 0;

function setup(): PolicyCompiler {
  const c = new PolicyCompiler({ nodeAddresses: ['192.168.0.1'] });
  c.load({
    namespaces: [{ name: 'app', labels: {} }],
    pods: [pod('app', 'web', '10.1.0.2', { role: 'web' }), pod('app', 'cli', '10.2.0.2', { role: 'client' }, 'n2')],
    localPods: [{ namespace: 'app', name: 'web', ip: '10.1.0.2', ofport: 5 }],
    policies: [allowFrom('p1', 'web', 'client')],
  });
  return c;
}

describe('policy incremental compiler', () => {
  it('an informer resync and an unrelated pod produce empty diffs', () => {
    const c = setup();
    assert.ok(empty(c.upsertPod(pod('app', 'cli', '10.2.0.2', { role: 'client' }, 'n2'))));
    assert.ok(empty(c.upsertPod(pod('other', 'x', '10.2.0.9', { role: 'client' }, 'n2'))));
    assert.ok(empty(c.upsertPolicy(allowFrom('p1', 'web', 'client'))));
  });

  it('a new peer pod adds exactly one clause flow', () => {
    const c = setup();
    const d = c.upsertPod(pod('app', 'cli2', '10.2.0.3', { role: 'client' }, 'n2'));
    assert.equal(d.modify.length + d.delete.length, 0);
    assert.equal(d.add.length, 1);
    assert.deepEqual(d.add[0]?.match, { protocol: 'ip', nwSrc: '10.2.0.3' });
    const back = c.deletePod('app', 'cli2');
    assert.deepEqual(back.delete.map(flowIdentity), d.add.map(flowIdentity));
  });

  it('conjunction ids are stable across recomputes and unrelated rules are not reinstalled', () => {
    const c = setup();
    const before = [...c.rules().values()];
    assert.equal(before.length, 1);
    const p1 = allowFrom('p1', 'web', 'client');
    p1.spec?.ingress?.push({ ports: [{ protocol: 'UDP', port: 53 }] });
    const d = c.upsertPolicy(p1);
    assert.equal(c.rules().get(before[0]!.id)?.index, 0, 'rule 0 keeps its id');
    assert.equal(d.delete.length, 0);
    for (const f of [...d.add, ...d.modify]) {
      const conj = f.actions.find((a) => a.type === 'conjunction' || a.type === 'loadReg');
      assert.ok(conj, 'only rule flows change');
      assert.notEqual(conj.type === 'conjunction' ? conj.id : conj.type === 'loadReg' ? conj.value : 0, before[0]!.id);
    }
    // a fresh compiler over the same snapshot picks the same ids
    const fresh = setup();
    fresh.upsertPolicy(p1);
    assert.deepEqual([...fresh.rules().keys()].sort(), [...c.rules().keys()].sort());
  });

  it('clause flows shared by several rules are merged, and modified (not deleted) when one rule goes', () => {
    const c = setup();
    c.upsertPolicy(allowFrom('p2', 'web', 'client', 443));
    const target = c.flows().find((f) => f.table === Table.IngressRule && f.match.nwDst === '10.1.0.2');
    assert.equal(target?.actions.filter((a) => a.type === 'conjunction').length, 2, 'one flow, two conjunctions');
    const d = c.deletePolicy('app', 'p2');
    assert.ok(d.modify.some((f) => flowIdentity(f) === flowIdentity(target as Flow)));
    assert.ok(!d.delete.some((f) => flowIdentity(f) === flowIdentity(target as Flow)));
    // the isolation drop is shared too: still there
    assert.ok(c.flows().some((f) => f.table === Table.IngressDefault && f.match.nwDst === '10.1.0.2'));
  });

  it('a pod attached by CNI ADD into an isolated namespace gets its isolation and rule flows in that diff', () => {
    const c = setup();
    c.upsertPod(pod('app', 'web2', '10.1.0.3', { role: 'web' }));
    const d = c.upsertLocalPod({ namespace: 'app', name: 'web2', ip: '10.1.0.3', ofport: 6 });
    assert.ok(d.add.some((f) => f.table === Table.IngressDefault && f.match.nwDst === '10.1.0.3' && f.actions[0]?.type === 'drop'));
    assert.ok(d.add.some((f) => f.table === Table.IngressRule && f.match.nwDst === '10.1.0.3'));
    const gone = c.deleteLocalPod('app', 'web2');
    assert.equal(gone.delete.length, 2);
  });

  it('a policy that becomes active again does not reuse peers it resolved before', () => {
    const c = setup();
    c.setLocalPods([]); // p1 inactive: no local target
    c.upsertPod(pod('app', 'cli3', '10.2.0.4', { role: 'client' }, 'n2')); // new peer while inactive
    c.setLocalPods([{ namespace: 'app', name: 'web', ip: '10.1.0.2', ofport: 5 }]);
    assert.ok(c.flows().some((f) => f.table === Table.IngressRule && f.match.nwSrc === '10.2.0.4'), 'peer added while inactive is present');
  });

  it('label edits that change no selection recompute nothing', () => {
    const c = setup();
    const d = c.upsertPod(pod('app', 'cli', '10.2.0.2', { role: 'client', version: 'v2' }, 'n2'));
    assert.ok(empty(d));
  });

  for (const initialSeed of [42, 7, 1234, 99]) it(`matches a full compile after random churn (seed ${initialSeed})`, () => {
    let seed = initialSeed;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return (seed >>> 8) % n;
    };
    const roles = ['web', 'db', 'client', 'cache'];
    const nsNames = ['a', 'b', 'c'];
    const namespaces = new Map<string, NamespaceInfo>(nsNames.map((n) => [n, { name: n, labels: { team: n } }]));
    const pods = new Map<string, PodInfo>();
    const policies = new Map<string, V1NetworkPolicy>();
    let local: LocalPod[] = [];
    const c = new PolicyCompiler({ nodeAddresses: ['192.168.0.1'] });
    const installed = new Map<string, Flow>();
    const apply = (d: FlowDiff) => {
      for (const f of d.delete) assert.ok(installed.delete(flowIdentity(f)));
      for (const f of d.modify) installed.set(flowIdentity(f), f);
      for (const f of d.add) installed.set(flowIdentity(f), f);
    };
    for (const n of namespaces.values()) apply(c.upsertNamespace(n));
    const randomPolicy = (i: number): V1NetworkPolicy => {
      const ns = nsNames[rnd(3)] as string;
      const peer = [
        { podSelector: { matchLabels: { role: roles[rnd(4)] as string } } },
        { namespaceSelector: { matchLabels: { team: nsNames[rnd(3)] as string } } },
        { namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'role', operator: 'NotIn', values: [roles[rnd(4)] as string] }] } },
        { ipBlock: { cidr: '10.0.0.0/8', except: [`10.${rnd(3)}.0.0/16`] } },
      ][rnd(4)];
      const ports = [undefined, [{ protocol: 'TCP', port: 80 + rnd(3) }], [{ port: 'http' }], [{ protocol: 'UDP', port: 1000, endPort: 1000 + rnd(100) }]][rnd(4)];
      const rule = { _from: rnd(5) === 0 ? undefined : [peer!], to: rnd(5) === 0 ? undefined : [peer!], ports };
      return {
        metadata: { namespace: ns, name: `p${i}` },
        spec: {
          podSelector: rnd(3) === 0 ? {} : { matchLabels: { role: roles[rnd(4)] as string } },
          policyTypes: [['Ingress'], ['Egress'], ['Ingress', 'Egress']][rnd(3)],
          ingress: [rule],
          egress: [rule],
        },
      };
    };
    let maxInstalled = 0;
    for (let step = 0; step < 400; step++) {
      const op = rnd(6);
      if (op <= 1) {
        const i = rnd(30);
        const ns = nsNames[rnd(3)] as string;
        const p: PodInfo = {
          namespace: ns,
          name: `pod${i}`,
          labels: { role: roles[rnd(4)] as string },
          ips: [`10.${rnd(3)}.${rnd(4)}.${i + 1}`],
          nodeName: 'n1',
          containerPorts: [{ name: 'http', containerPort: 8080 + rnd(2), protocol: 'TCP' }],
        };
        pods.set(`${ns}/${p.name}`, p);
        apply(c.upsertPod(p));
      } else if (op === 2 && pods.size > 0) {
        const key = [...pods.keys()][rnd(pods.size)] as string;
        const [ns, name] = key.split('/') as [string, string];
        pods.delete(key);
        local = local.filter((l) => `${l.namespace}/${l.name}` !== key);
        apply(c.setLocalPods(local));
        apply(c.deletePod(ns, name));
      } else if (op === 3) {
        const p = randomPolicy(rnd(12));
        policies.set(`${p.metadata?.namespace}/${p.metadata?.name}`, p);
        apply(c.upsertPolicy(p));
      } else if (op === 4 && policies.size > 0) {
        const key = [...policies.keys()][rnd(policies.size)] as string;
        const [ns, name] = key.split('/') as [string, string];
        policies.delete(key);
        apply(c.deletePolicy(ns, name));
      } else if (op === 5) {
        if (rnd(2) === 0) {
          const n = nsNames[rnd(3)] as string;
          const ns = { name: n, labels: { team: nsNames[rnd(3)] as string } };
          namespaces.set(n, ns);
          apply(c.upsertNamespace(ns));
        } else {
          local = [...pods.values()].filter(() => rnd(2) === 0).map((p, k) => ({ namespace: p.namespace, name: p.name, ip: p.ips[0] as string, ofport: k + 1 }));
          apply(c.setLocalPods(local));
        }
      }
      maxInstalled = Math.max(maxInstalled, installed.size);
      if (step % 4 === 3) {
        const full = compileNodePolicies({ pods: pods.values(), namespaces: namespaces.values(), policies: policies.values(), localPods: local, nodeAddresses: ['192.168.0.1'] });
        const want = new Map(full.flows.map((f) => [flowIdentity(f), f]));
        assert.deepEqual([...installed.keys()].sort(), [...want.keys()].sort(), `step ${step}: flow sets differ`);
        for (const [id, f] of want) assert.deepEqual(installed.get(id)?.actions, f.actions, `step ${step}: ${id}`);
      }
    }
    assert.ok(maxInstalled > 30, `the churn produced flows (max ${maxInstalled})`);
  });
});
