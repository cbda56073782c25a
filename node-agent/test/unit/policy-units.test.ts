import assert from 'node:assert/strict';
import { flowIdentity } from '../../src/pipeline/flow.js';
import { decodeCookie, CookieKind } from '../../src/pipeline/cookie.js';
import { cidrExcept, formatCidr, parseCidr, portRangeMasks, CidrError } from '../../src/policy/cidr.js';
import { compileSelector, selectorKey, SelectorError } from '../../src/policy/selectors.js';
import { analyzePolicy } from '../../src/policy/rules.js';
import { compileNodePolicies } from '../../src/policy/compiler.js';
import { pieceKey } from '../../src/policy/flows.js';
import type { LocalPod, PodInfo, V1NetworkPolicy } from '../../src/policy/types.js';

describe('policy/selectors', () => {
  const l = { app: 'web', tier: 'front' };
  it('matchLabels and every matchExpressions operator', () => {
    assert.equal(compileSelector({})(l), true);
    assert.equal(compileSelector({ matchLabels: { app: 'web' } })(l), true);
    assert.equal(compileSelector({ matchLabels: { app: 'db' } })(l), false);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] })(l), true);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] })(l), false);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] })(l), true);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] })(l), false);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'none', operator: 'NotIn', values: ['x'] }] })(l), true, 'NotIn matches absent key');
    assert.equal(compileSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] })(l), true);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'none', operator: 'Exists' }] })(l), false);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'none', operator: 'DoesNotExist' }] })(l), true);
    assert.equal(compileSelector({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })(l), false);
    assert.equal(
      compileSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] })(l),
      false,
      'labels and expressions are ANDed',
    );
  });
  it('rejects what the API server rejects', () => {
    assert.throws(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }), SelectorError);
    assert.throws(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), /needs at least one value/);
    assert.throws(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /takes no values/);
  });
  it('selectorKey is canonical', () => {
    assert.equal(selectorKey({ matchLabels: { a: '1', b: '2' } }), selectorKey({ matchLabels: { b: '2', a: '1' } }));
    assert.notEqual(selectorKey({ matchLabels: { a: '1' } }), selectorKey({ matchLabels: { a: '2' } }));
  });
});

describe('policy/cidr', () => {
  it('parses, normalizes and rejects', () => {
    assert.equal(formatCidr(parseCidr('10.1.2.3/16')), '10.1.0.0/16');
    assert.equal(formatCidr(parseCidr('10.1.2.3')), '10.1.2.3');
    assert.throws(() => parseCidr('10.1.2/8'), CidrError);
    assert.throws(() => parseCidr('10.1.2.3/33'), /prefix length/);
    assert.throws(() => parseCidr('fd00::/8'), /IPv6 is not supported/);
    assert.throws(() => parseCidr('256.1.1.1/8'), CidrError);
  });
  it('except is an exact set difference', () => {
    const parts = cidrExcept(parseCidr('10.0.0.0/24'), [parseCidr('10.0.0.128/25'), parseCidr('10.0.0.5/32')]);
    const texts = parts.map(formatCidr);
    assert.deepEqual(texts, ['10.0.0.0/30', '10.0.0.4', '10.0.0.6/31', '10.0.0.8/29', '10.0.0.16/28', '10.0.0.32/27', '10.0.0.64/26']);
    // brute force: every address of the /24 is covered exactly once unless excepted
    for (let i = 0; i < 256; i++) {
      const covered = parts.filter((p) => (p.base >>> (32 - p.len)) === ((parseCidr('10.0.0.0/24').base + i) >>> (32 - p.len))).length;
      assert.equal(covered, i === 5 || i >= 128 ? 0 : 1, `address .${i}`);
    }
    assert.deepEqual(cidrExcept(parseCidr('10.0.0.0/24'), [parseCidr('10.0.0.0/16')]), []);
    assert.deepEqual(cidrExcept(parseCidr('10.0.0.0/24'), [parseCidr('10.9.0.0/16')]).map(formatCidr), ['10.0.0.0/24']);
  });
  it('port ranges become exact value/mask lists', () => {
    for (const [s, e] of [[80, 81], [1, 65535], [1000, 2000], [5, 5], [32768, 60999], [0, 65535]] as const) {
      const masks = portRangeMasks(s, e);
      let count = 0;
      for (let p = 0; p <= 65535; p++) {
        const hits = masks.filter((m) => (p & (m.mask ?? 0xffff)) === m.port).length;
        assert.ok(hits <= 1, `port ${p} matched twice in ${s}-${e}`);
        assert.equal(hits === 1, p >= s && p <= e, `port ${p} in ${s}-${e}`);
        count += hits;
      }
      assert.equal(count, e - s + 1);
    }
    assert.deepEqual(portRangeMasks(80, 81), [{ port: 80, mask: 0xfffe }]);
    assert.throws(() => portRangeMasks(90, 80), /invalid/);
  });
});

describe('policy/rules analysis', () => {
  const base = { metadata: { namespace: 'x', name: 'p' } };
  it('infers policyTypes: Ingress always, Egress only when egress rules exist', () => {
    assert.deepEqual(analyzePolicy({ ...base, spec: { podSelector: {} } }).isolates, { ingress: true, egress: false });
    assert.deepEqual(analyzePolicy({ ...base, spec: { podSelector: {}, egress: [{}] } }).isolates, { ingress: true, egress: true });
    assert.deepEqual(analyzePolicy({ ...base, spec: { podSelector: {}, egress: [] } }).isolates, { ingress: true, egress: false });
    assert.deepEqual(analyzePolicy({ ...base, spec: { podSelector: {}, policyTypes: ['Egress'] } }).isolates, { ingress: false, egress: true });
  });
  it('unusable peers and ports allow nothing and are reported, never widened', () => {
    const a = analyzePolicy({
      ...base,
      spec: {
        podSelector: {},
        ingress: [{ _from: [{ ipBlock: { cidr: 'fd00::/8' } }], ports: [{ protocol: 'ICMP', port: 1 }] }],
      },
    });
    const rule = a.rules[0];
    assert.ok(rule && !rule.peers.any && rule.peers.cidrs.length === 0 && rule.peers.selectors.length === 0);
    assert.ok(rule && !rule.ports.any && rule.ports.numeric.length === 0 && rule.ports.named.length === 0);
    assert.equal(a.warnings.length, 2);
    assert.match(a.warnings.join('\n'), /spec\.ingress\[0\]\.from\[0\].*IPv6/);
    assert.match(a.warnings.join('\n'), /protocol "ICMP"/);
  });
  it('accepts `from` as written in YAML as well as the client library `_from`', () => {
    const yaml = { ...base, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] } } as unknown as V1NetworkPolicy;
    const rule = analyzePolicy(yaml).rules[0];
    assert.ok(rule && !rule.peers.any && rule.peers.selectors.length === 1);
  });
});

describe('policy/compiler flow count and shape', () => {
  function bigCluster(n: number) {
    const pods: PodInfo[] = [];
    const localPods: LocalPod[] = [];
    for (let i = 0; i < n; i++) {
      const ip = `10.1.${i >> 8}.${i & 255}`;
      pods.push({ namespace: 'app', name: `server-${i}`, labels: { role: 'server' }, ips: [ip], nodeName: 'n1', containerPorts: [] });
      localPods.push({ namespace: 'app', name: `server-${i}`, ip, ofport: 10 + i });
      pods.push({ namespace: 'app', name: `client-${i}`, labels: { role: 'client' }, ips: [`10.2.${i >> 8}.${i & 255}`], nodeName: 'n2', containerPorts: [] });
    }
    const policy: V1NetworkPolicy = {
      metadata: { namespace: 'app', name: 'servers', uid: 'u1' },
      spec: {
        podSelector: { matchLabels: { role: 'server' } },
        ingress: [{ _from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }],
      },
    };
    return { pods, localPods, policy };
  }

  it('a 200 x 200 selector policy compiles to <= 1,000 flows (conjunction, S + A + P + 1)', () => {
    const { pods, localPods, policy } = bigCluster(200);
    const out = compileNodePolicies({ pods, localPods, policies: [policy], namespaces: [{ name: 'app', labels: {} }], nodeAddresses: ['10.1.255.1'] });
    const ruleFlows = out.flows.filter((f) => decodeCookie(f.cookie).kind === CookieKind.PolicyRule && decodeCookie(f.cookie).id !== 0);
    const isolation = out.flows.filter((f) => decodeCookie(f.cookie).kind === CookieKind.PolicyIsolation);
    assert.equal(ruleFlows.length, 200 + 200 + 1 + 1, 'S + A + P + 1 rule flows');
    assert.equal(isolation.length, 200, 'one default drop per isolated pod');
    assert.ok(out.flows.length <= 1000, `${out.flows.length} flows`);
    assert.deepEqual(out.warnings, []);
    // every rule flow's cookie traces back to the policy rule
    const [ref] = [...out.rules.values()];
    assert.ok(ref);
    assert.deepEqual({ ns: ref.namespace, name: ref.name, dir: ref.direction, index: ref.index }, { ns: 'app', name: 'servers', dir: 'ingress', index: 0 });
    for (const f of ruleFlows) assert.equal(decodeCookie(f.cookie).id, ref.id);
  });

  it('the fast slot key agrees with flowIdentity on every produced flow', () => {
    const { pods, localPods, policy } = bigCluster(50);
    const out = compileNodePolicies({ pods, localPods, policies: [policy], namespaces: [] });
    const ids = new Set(out.flows.map((f) => flowIdentity(f)));
    const keys = new Set(out.flows.map((f) => pieceKey(f.table, f.priority, f.match)));
    assert.equal(ids.size, out.flows.length);
    assert.equal(keys.size, out.flows.length);
  });

  it('a broken policy is skipped with a warning naming it; other policies still compile', () => {
    const { pods, localPods, policy } = bigCluster(3);
    const broken: V1NetworkPolicy = {
      metadata: { namespace: 'app', name: 'broken' },
      spec: { podSelector: { matchExpressions: [{ key: 'role', operator: 'Bogus' }] } },
    };
    const out = compileNodePolicies({ pods, localPods, policies: [broken, policy], namespaces: [] });
    assert.ok(out.warnings.some((w) => w.policy === 'app/broken' && /unknown operator "Bogus"/.test(w.message)));
    assert.equal([...out.rules.values()].filter((r) => r.name === 'servers').length, 1);
  });
});
