// Pure checks of the conformance suite's policy files (no root, no cluster): each file is one
// NetworkPolicy, placeholders name model pods, the valid files pass the API server's validation and
// compile without warnings for the model, the invalid ones fail on the field the e2e test expects,
// and the SCTP-only case (no SCTP in this kernel) compiles to SCTP flows.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAllYaml, type V1NetworkPolicy } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { networkPolicyErrors } from '../apiserver/validation.js';
import type { KubeObject } from '../apiserver/types.js';
import { compileNodePolicies } from '../../node-agent/src/policy/compiler.js';
import type { LocalPod, NamespaceInfo, PodInfo } from '../../node-agent/src/policy/types.js';
import { NAMESPACES, nodeFor, POD_NAMES, SERVE_PORTS } from '../netpol/model.js';
import { listPolicyFiles, placeholders, POLICY_DIR, readPolicy, renderPolicy } from '../netpol/policy-files.js';

const NODES = 3;
const modelPods: PodInfo[] = NAMESPACES.flatMap((ns, i) => POD_NAMES.map((name, j) => ({
  namespace: ns, name, labels: { pod: name }, ips: [`10.244.${nodeFor(ns, name, NODES)}.${10 + 3 * i + j}`],
  nodeName: `n${nodeFor(ns, name, NODES)}`, containerPorts: SERVE_PORTS.map((p) => ({ name: p.name!, containerPort: p.containerPort, protocol: p.protocol! })),
})));
const ips = Object.fromEntries(modelPods.map((p) => [`${p.namespace}/${p.name}`, p.ips[0]!]));
const namespaces: NamespaceInfo[] = NAMESPACES.map((name) => ({ name, labels: { 'kubernetes.io/metadata.name': name } }));

function compileFor(policy: V1NetworkPolicy, node: string): ReturnType<typeof compileNodePolicies> {
  const localPods: LocalPod[] = modelPods.filter((p) => p.nodeName === node).map((p, k) => ({ namespace: p.namespace, name: p.name, ip: p.ips[0]!, ofport: 10 + k }));
  return compileNodePolicies({ pods: modelPods, namespaces, policies: [policy], localPods, nodeAddresses: ['10.0.0.11'] });
}

async function loadPolicy(file: string): Promise<V1NetworkPolicy> {
  const docs = loadAllYaml(await readPolicy(file, ips)) as unknown[];
  assert.equal(docs.length, 1, `${file}.yaml must hold exactly one document`);
  const np = docs[0] as V1NetworkPolicy;
  assert.equal(np.kind, 'NetworkPolicy', `${file}.yaml kind`);
  assert.equal(np.apiVersion, 'networking.k8s.io/v1', `${file}.yaml apiVersion`);
  return np;
}

describe('NetworkPolicy conformance files (e2e/netpol/policies)', () => {
  let files: string[] = [];
  before(async () => {
    files = await listPolicyFiles();
  });

  it('holds the upstream cases and the invalid ones', () => {
    for (const f of ['deny-ingress', 'deny-egress', 'deny-all', 'ingress-ipblock-except', 'ingress-udp-only', 'invalid-bad-cidr', 'invalid-protocol']) {
      assert.ok(files.includes(f), `${f}.yaml missing from ${POLICY_DIR}`);
    }
  });

  it('parses every file as one NetworkPolicy named like the file (update variants share the name they update)', async () => {
    const names = new Map<string, string>();
    for (const file of files) {
      const np = await loadPolicy(file);
      const key = `${np.metadata?.namespace}/${np.metadata?.name}`;
      assert.ok(np.metadata?.namespace && np.metadata.name, `${file}: namespace and name required`);
      const prev = names.get(key);
      if (prev) assert.ok(file.startsWith(prev) || prev.startsWith(file.replace(/-updated$/, '')), `${file} and ${prev} both define ${key}`);
      names.set(key, file);
    }
  });

  it('quotes values that YAML 1.1 (kubectl) would read as booleans, such as namespace "y"', async () => {
    const yaml11Bool = /(:\s+|[[,]\s*)(y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)\s*([,\]]|$)/;
    for (const file of files) {
      const lines = (await readFile(join(POLICY_DIR, `${file}.yaml`), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        if (!line.trimStart().startsWith('#')) assert.doesNotMatch(line, yaml11Bool, `${file}.yaml:${i + 1}: quote it ("y"), kubectl reads it as a boolean`);
      });
    }
  });

  it('uses placeholders only for model pods and refuses to render a missing IP', async () => {
    for (const file of files) {
      const text = await readFile(join(POLICY_DIR, `${file}.yaml`), 'utf8');
      for (const key of placeholders(text)) assert.ok(key in ips, `${file}: {{ip ${key}}} is not a model pod`);
      assert.doesNotMatch(renderPolicy(text, ips), /\{\{/, `${file}: unrendered placeholder`);
    }
    assert.throws(() => renderPolicy('cidr: {{ip x/q}}/32', ips), /\{\{ip x\/q\}\} has no IPv4 address/);
  });

  it('passes the API server validation for every valid file; each invalid file fails on its field', async () => {
    const invalidField: Record<string, string> = {
      'invalid-bad-cidr': 'spec.ingress[0].from[0].ipBlock.cidr',
      'invalid-except-outside': 'spec.ingress[0].from[0].ipBlock.except[0]',
      'invalid-endport-below-port': 'spec.ingress[0].ports[0].endPort',
      'invalid-named-endport': 'spec.ingress[0].ports[0].endPort',
      'invalid-protocol': 'spec.ingress[0].ports[0].protocol',
    };
    for (const file of files) {
      // the wire form (`from`, as kubectl sends it), not client-node's typed model (`_from`)
      const raw = loadAll(await readPolicy(file, ips))[0] as KubeObject;
      const errors = networkPolicyErrors(raw);
      if (file.startsWith('invalid-')) {
        assert.ok(invalidField[file], `${file}: add its expected field to this test and to e2e/test/netpol.test.ts`);
        assert.ok(errors.some((e) => e.field === invalidField[file]), `${file}: expected an error on ${invalidField[file]}, got ${JSON.stringify(errors)}`);
      } else {
        assert.deepEqual(errors, [], `${file} must be valid`);
      }
    }
  });

  it('compiles every valid file for every node without warnings, except the IPv6 one, which is reported by name', async () => {
    for (const file of files.filter((f) => !f.startsWith('invalid-'))) {
      const np = await loadPolicy(file);
      for (let n = 1; n <= NODES; n++) {
        const { warnings } = compileFor(np, `n${n}`);
        if (file === 'ipv6-ipblock') {
          if (n === nodeFor('y', 'a', NODES)) assert.ok(warnings.some((w) => w.policy === 'y/ipv6-ipblock' && /IPv6|fd00::/.test(w.message)), `no IPv6 warning: ${JSON.stringify(warnings)}`);
        } else {
          assert.deepEqual(warnings, [], `${file} on n${n}`);
        }
      }
    }
  });

  it('compiles the SCTP-only rule to an sctp,tp_dst=80 conjunction clause on x/a\'s node, with no TCP or UDP clause', async () => {
    const { flows, rules } = compileFor(await loadPolicy('ingress-sctp-only'), `n${nodeFor('x', 'a', NODES)}`);
    const sctp = flows.filter((f) => f.match.protocol === 'sctp' && f.match.tpDst?.port === 80);
    assert.equal(sctp.length, 1, `expected one SCTP port clause, flows: ${JSON.stringify(flows, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    assert.ok(sctp[0]!.actions.some((a) => a.type === 'conjunction'), 'the SCTP clause is part of a conjunction');
    assert.equal(flows.filter((f) => f.match.protocol === 'tcp' || f.match.protocol === 'udp').length, 0, 'no TCP/UDP allow');
    assert.ok([...rules.values()].some((r) => r.name === 'ingress-sctp-only' && r.direction === 'ingress'), 'rule traced to the policy');
  });
});
