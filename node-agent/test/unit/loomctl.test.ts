// loomctl and the agent's debug API without OVS: trace parsing and explanation on ofproto/trace
// output recorded from a real 2-node run (node-agent/test/unit/loomctl-fixtures), rendering, JSON
// output through a real debug server on a unix socket with a fake agent, audit flows and packet-ins.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { parseTrace, pathSteps, outputPort } from '../../src/debugapi/trace-parse.js';
import { explainTrace } from '../../src/debugapi/explain.js';
import { explainContext, injectedFlow, resolveEndpoint } from '../../src/debugapi/trace.js';
import { DebugServer } from '../../src/debugapi/server.js';
import type { AgentIntrospection, PodsResponse, TraceResult } from '../../src/debugapi/types.js';
import { main, parseInvocation, UsageError } from '../../src/loomctl/main.js';
import { renderTrace } from '../../src/loomctl/render.js';
import type { RuleRef } from '../../src/policy/types.js';
import { auditBundle, auditFlows } from '../../src/audit/flows.js';
import { PacketInParser } from '../../src/audit/packetin.js';
import { auditRecord } from '../../src/audit/record.js';
import { TokenBucket } from '../../src/audit/ratelimit.js';
import { auditCookie } from '../../src/audit/cookie.js';

const FIX = join(import.meta.dirname, 'loomctl-fixtures');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');

// The recorded run: node n1 (10.244.1.0/24) holds x/a (ofport 4) and x/b (ofport 3); x/c is on n2.
// NetworkPolicy x/allow-a-to-b selects pod=b and allows ingress from pod=a on TCP 80.
const RULE_ID = 949759228;
const rule: RuleRef = { id: RULE_ID, namespace: 'x', name: 'allow-a-to-b', direction: 'ingress', index: 0, portGroup: 'numeric' };
const policy: k8s.V1NetworkPolicy = {
  metadata: { namespace: 'x', name: 'allow-a-to-b' },
  spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ _from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80, protocol: 'TCP' }] }] },
};
const pod = (ns: string, name: string, ip: string, node: string, annotations: Record<string, string> = {}): k8s.V1Pod => ({
  metadata: { namespace: ns, name, labels: { pod: name }, annotations },
  spec: { nodeName: node, containers: [] },
  status: { podIP: ip, podIPs: [{ ip }] },
});

function fakeAgent(over: Partial<AgentIntrospection> = {}): AgentIntrospection {
  return {
    nodeName: 'loomt-e2e-exp-n1',
    bridge: 'br-int',
    vswitchdCtl: '/run/ovs/ovs-vswitchd.ctl',
    notReadyReason: () => null,
    network: () => ({ gatewayOfport: 2, gatewayMac: '22:e8:5f:01:3b:9c', gatewayIp: '10.244.1.1', podCidr: '10.244.1.0/24' }),
    tunnel: () => ({ ofport: 1, vni: 1, nodeIp: '10.0.0.11' }),
    attachments: () => [
      { containerId: 'bd2f2d73fb70fc0eda155845dde520cfb9456d51b32aa76818562959ff0f999f', ifname: 'eth0', podNamespace: 'x', podName: 'b', ip: '10.244.1.2', mac: '0a:58:0a:f4:01:02', ofport: 3, hostIfname: 'lm5c5c2d1a9fc5f' },
      { containerId: '0b92e8313fdd2945ec16cd368dce452ba18060a93ac1ce10df170eb1a08bdb07', ifname: 'eth0', podNamespace: 'x', podName: 'a', ip: '10.244.1.3', mac: '0a:58:0a:f4:01:03', ofport: 4, hostIfname: 'lmf61e238769fb0' },
    ],
    pods: () => [pod('x', 'a', '10.244.1.3', 'loomt-e2e-exp-n1'), pod('x', 'b', '10.244.1.2', 'loomt-e2e-exp-n1', { 'kubernetes.io/ingress-bandwidth': '10M' }), pod('x', 'c', '10.244.2.2', 'loomt-e2e-exp-n2')],
    namespaces: () => [{ metadata: { name: 'x', annotations: { 'loom.io/policy-audit': 'true' } } }],
    networkPolicies: () => [policy],
    nodes: () => [
      { metadata: { name: 'loomt-e2e-exp-n1' }, spec: { podCIDR: '10.244.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.11' }] } },
      { metadata: { name: 'loomt-e2e-exp-n2' }, spec: { podCIDR: '10.244.2.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.12' }] } },
    ],
    ruleIndex: () => new Map([[RULE_ID, rule]]),
    dumpFlows: async () => [],
    policyFlows: () => [],
    ...over,
  };
}

describe('loomctl: ofproto/trace parsing', () => {
  it('reads every table visited, across the conntrack recirculation', () => {
    const t = parseTrace(fixture('allow.txt'));
    assert.equal(t.sections.length, 2);
    assert.match(t.sections[1]!.resume ?? '', /resume conntrack with ct_state=new\|trk/);
    assert.deepEqual(pathSteps(t).map((s) => s.table), [0, 10, 20, 21, 30, 35, 40, 50, 60, 70, 80]);
    const conj = pathSteps(t).find((s) => s.table === 60)!;
    assert.equal(conj.match, 'conj_id=949759228,ip');
    assert.equal(conj.priority, 200);
    assert.equal(conj.cookie, 0x4c4d0104389c2cfcn);
    assert.deepEqual(conj.actions, ['set_field:0x389c2cfc->reg3', 'goto_table:70']);
    assert.equal(outputPort(t), 3);
  });

  it('sees no output port when the packet is dropped', () => {
    const t = parseTrace(fixture('isolation.txt'));
    assert.equal(outputPort(t), undefined);
    assert.deepEqual(pathSteps(t).at(-1)!.actions, ['drop']);
  });

  it('rejects text that is not a trace', () => {
    assert.throws(() => parseTrace('ovs-appctl: no such bridge'), /no "Flow:" section/);
  });
});

describe('loomctl: trace explanation', () => {
  const ctx = explainContext(fakeAgent());

  it('allowed: names the ingress rule that allowed it and the pods by their cookies', () => {
    const e = explainTrace(parseTrace(fixture('allow.txt')), ctx);
    assert.equal(e.verdict, 'allowed');
    assert.equal(e.steps[0]!.owner.text, 'pod x/a');
    assert.equal(e.steps.find((s) => s.table === 50)!.owner.text, 'pod x/b');
    const ingress = e.decisions.find((d) => d.direction === 'ingress')!;
    assert.deepEqual({ kind: ingress.kind, ns: ingress.namespace, name: ingress.name, index: ingress.ruleIndex }, { kind: 'rule', ns: 'x', name: 'allow-a-to-b', index: 0 });
    assert.equal(e.decisions.find((d) => d.direction === 'egress')!.kind, 'open');
    assert.match(e.output ?? '', /pod x\/b/);
  });

  it('isolation drop: names the isolated pod, the direction and the isolating policy', () => {
    const e = explainTrace(parseTrace(fixture('isolation.txt')), ctx);
    assert.equal(e.verdict, 'dropped');
    const d = e.decisions.find((x) => x.direction === 'ingress')!;
    assert.equal(d.kind, 'isolation');
    assert.equal(d.pod, 'x/b');
    assert.deepEqual(d.policies, ['x/allow-a-to-b']);
    assert.equal(e.reason, 'dropped by default deny (pod x/b is isolated for ingress by x/allow-a-to-b)');
  });

  it('cross-node: ends at the tunnel and says which node continues', () => {
    const e = explainTrace(parseTrace(fixture('tunnel.txt')), ctx);
    assert.equal(e.verdict, 'allowed');
    assert.deepEqual(e.tunnelTo, { node: 'loomt-e2e-exp-n2', nodeIp: '10.0.0.12' });
    assert.match(e.steps.find((s) => s.table === 40)!.text, /routed to node loomt-e2e-exp-n2 through the tunnel \(tun_dst=10\.0\.0\.12\)/);
  });

  it('renders the path and the verdict in plain words', () => {
    const e = explainTrace(parseTrace(fixture('isolation.txt')), ctx);
    const text = renderTrace({ node: 'loomt-e2e-exp-n1', src: { spec: 'x/a', ip: '10.244.1.3', pod: 'x/a', node: 'loomt-e2e-exp-n1', local: true }, dst: { spec: 'x/b', ip: '10.244.1.2', pod: 'x/b', node: 'loomt-e2e-exp-n1', local: true }, injected: '', raw: '', ...e });
    assert.match(text, /\[65 IngressDefault\] dropped by default deny \(pod x\/b is isolated for ingress by x\/allow-a-to-b\)/);
    assert.match(text, /verdict: DROPPED/);
  });
});

describe('loomctl: what gets injected', () => {
  const agent = fakeAgent();
  it('a local pod to a local pod: from its port, with both pod MACs', () => {
    const f = injectedFlow(resolveEndpoint('x/a', agent), resolveEndpoint('10.244.1.2', agent), 'udp', 53, agent);
    assert.equal(f, 'udp,in_port=4,dl_src=0a:58:0a:f4:01:03,dl_dst=0a:58:0a:f4:01:02,nw_src=10.244.1.3,nw_dst=10.244.1.2,nw_ttl=64,udp_src=40000,udp_dst=53');
  });
  it('a remote pod to a local pod: from the tunnel of the source node', () => {
    const f = injectedFlow(resolveEndpoint('x/c', agent), resolveEndpoint('x/b', agent), 'tcp', 80, agent);
    assert.match(f, /^tcp,in_port=1,tun_id=1,tun_src=10\.0\.0\.12,tun_dst=10\.0\.0\.11,.*nw_src=10\.244\.2\.2,nw_dst=10\.244\.1\.2/);
  });
  it('refuses a pair that is not on this node, naming where to run it', () => {
    assert.throws(() => injectedFlow(resolveEndpoint('x/c', agent), resolveEndpoint('8.8.8.8', agent), 'tcp', 80, agent), /run loomctl trace on node loomt-e2e-exp-n2/);
  });
  it('refuses unknown pods and garbage with a clear message', () => {
    assert.throws(() => resolveEndpoint('x/nope', agent), /pod x\/nope is not known/);
    assert.throws(() => resolveEndpoint('a;rm -rf /', agent), /neither a pod/);
  });
});

describe('loomctl: command line and JSON output over the debug socket', function () {
  let dir: string;
  let server: DebugServer;
  const socket = () => join(dir, 'loomctl.sock');
  const capture = async (argv: string[]) => {
    const chunks: string[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    const origErr = process.stderr.write.bind(process.stderr);
    const errs: string[] = [];
    process.stdout.write = ((c: string) => (chunks.push(String(c)), true)) as typeof process.stdout.write;
    process.stderr.write = ((c: string) => (errs.push(String(c)), true)) as typeof process.stderr.write;
    try {
      const code = await main(argv);
      return { code, out: chunks.join(''), err: errs.join('') };
    } finally {
      process.stdout.write = orig;
      process.stderr.write = origErr;
    }
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loomt-loomctl-'));
    server = new DebugServer(fakeAgent(), join(dir, 'loomctl.sock'), async () => fixture('isolation.txt'));
    await server.start();
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pods --json parses and carries IP, MAC, port, limits, isolation and audit', async () => {
    const r = await capture(['--socket', socket(), '--json', 'pods']);
    assert.equal(r.code, 0, r.err);
    const body = JSON.parse(r.out) as PodsResponse;
    const b = body.pods.find((p) => p.name === 'b')!;
    assert.deepEqual({ ip: b.ip, ofport: b.ofport, ingressBps: b.limits.ingressBps, isolation: b.isolation, policies: b.policies, audited: b.audited },
      { ip: '10.244.1.2', ofport: 3, ingressBps: 10e6, isolation: { ingress: true, egress: false }, policies: ['x/allow-a-to-b'], audited: true });
  });

  it('pods prints a table', async () => {
    const r = await capture(['--socket', socket(), 'pods']);
    assert.match(r.out, /^POD\s+IP\s+MAC/m);
    assert.match(r.out, /x\/b\s+10\.244\.1\.2\s+0a:58:0a:f4:01:02\s+3 lm5c5c2d1a9fc5f\s+10 Mbit\/s/);
  });

  it('policies --json names the policy and its rule per direction', async () => {
    const r = await capture(['--socket', socket(), '--json', 'policies', 'x/b']);
    const body = JSON.parse(r.out) as { isolation: { ingress: string[] }; policies: Array<{ rules: Array<{ peers: string; ports: string; conjIds: number[] }> }> };
    assert.deepEqual(body.isolation.ingress, ['x/allow-a-to-b']);
    assert.deepEqual(body.policies[0]!.rules[0], { direction: 'ingress', index: 0, peers: 'pods pod=a (same namespace)', ports: 'TCP/80', conjIds: [RULE_ID] });
  });

  it('trace --json parses and gives the verdict and the deciding policy', async () => {
    const r = await capture(['--socket', socket(), '--json', 'trace', 'x/a', 'x/b', '--port', '81']);
    assert.equal(r.code, 0, r.err);
    const body = JSON.parse(r.out) as TraceResult;
    assert.equal(body.verdict, 'dropped');
    assert.match(body.injected, /tcp_dst=81/);
    assert.deepEqual(body.decisions.find((d) => d.kind === 'isolation')?.policies, ['x/allow-a-to-b']);
  });

  it('flows --json parses; errors from the agent are shown with exit code 1', async () => {
    const r = await capture(['--socket', socket(), '--json', 'flows', '--table', '60']);
    assert.deepEqual(JSON.parse(r.out), { node: 'loomt-e2e-exp-n1', flows: [] });
    const bad = await capture(['--socket', socket(), 'policies', 'x/nope']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /pod x\/nope is not on node loomt-e2e-exp-n1/);
  });

  it('says the agent is not running when the socket is missing', async () => {
    const r = await capture(['--socket', join(dir, 'missing.sock'), 'pods']);
    assert.equal(r.code, 1);
    assert.match(r.err, /cannot reach loom-agent .* the socket does not exist\. Is the agent running on this node\?/);
  });

  it('rejects bad usage with exit code 2', async () => {
    assert.throws(() => parseInvocation(['trace', 'x/a']), UsageError);
    assert.throws(() => parseInvocation(['flows', '--table', 'x']), /--table must be 0..254/);
    assert.throws(() => parseInvocation(['trace', 'x/a', 'x/b', '--proto', 'icmp', '--port', '1']), /--port does not apply/);
    assert.equal((await capture(['bogus'])).code, 2);
  });
});

describe('policy audit: flows, packet-ins, records, rate limit', () => {
  const net = { gatewayOfport: 2, gatewayMac: '22:e8:5f:01:3b:9c', gatewayIp: '10.244.1.1', podCidr: '10.244.1.0/24' };

  it('logs allowed connections at commit and denied ones only where the pod is isolated', () => {
    const flows = auditFlows(net, [{ pod: 'x/b', ip: '10.244.1.2', isolated: { ingress: true, egress: false } }]);
    assert.deepEqual(flows.map((f) => f.key).sort(), ['65/201/ip,nw_dst=10.244.1.2', '70/201/ct_state=+new+trk,ip,nw_dst=10.244.1.2', '70/202/ct_state=+new+trk,ip,nw_src=10.244.1.2']);
    const commit = flows.find((f) => f.key.startsWith('70/201'))!;
    assert.match(commit.text, / actions=controller\(reason=action,max_len=128\),ct\(commit,zone=65520,exec\(.*\)\),goto_table:80$/);
    assert.match(flows.find((f) => f.key.startsWith('65/'))!.text, / actions=controller\(reason=action,max_len=128\)$/);
  });

  it('bundles only the difference', () => {
    const a = auditFlows(net, [{ pod: 'x/b', ip: '10.244.1.2', isolated: { ingress: true, egress: false } }]);
    const installed = new Map(a.map((f) => [f.key, f]));
    assert.equal(auditBundle(installed, a), '');
    const b = auditFlows(net, [{ pod: 'x/b', ip: '10.244.1.2', isolated: { ingress: false, egress: false } }]);
    assert.equal(auditBundle(installed, b), 'flow delete_strict table=65,priority=201,ip,nw_dst=10.244.1.2\n');
  });

  it('parses recorded packet-ins and turns them into records naming the rule or the isolation', () => {
    const parser = new PacketInParser();
    const pins = fixture('packetin.txt').split('\n').map((l) => parser.push(l)).filter((p) => p !== undefined);
    assert.equal(pins.length, 2);
    assert.deepEqual({ table: pins[0]!.table, reg3: pins[0]!.regs[3], dst: pins[0]!.dstIp, port: pins[0]!.dstPort, proto: pins[0]!.protocol }, { table: 70, reg3: RULE_ID, dst: '10.244.1.2', port: 80, proto: 'tcp' });
    const ctx = {
      node: 'loomt-e2e-exp-n1',
      rules: new Map([[RULE_ID, rule]]),
      podByIp: (ip: string) => ({ '10.244.1.3': 'x/a', '10.244.1.2': 'x/b' })[ip],
      isLocal: () => true,
      isolatingPolicies: () => ['x/allow-a-to-b'],
      now: () => new Date(0),
    };
    // the fixture was recorded with experimental cookies; give them audit cookies
    const allow = auditRecord({ ...pins[0]!, cookie: auditCookie('allow', 'egress', 1) }, ctx)!;
    assert.deepEqual(allow.ingress, { namespace: 'x', name: 'allow-a-to-b', direction: 'ingress', index: 0 });
    assert.equal(allow.egress, 'not isolated');
    assert.deepEqual([allow.verdict, allow.pod, allow.src.pod, allow.dst.pod], ['allow', 'x/a', 'x/a', 'x/b']);
    const deny = auditRecord({ ...pins[1]!, cookie: auditCookie('deny', 'ingress', 1) }, ctx)!;
    assert.deepEqual([deny.verdict, deny.direction, deny.pod, deny.dst.port, deny.isolatedBy], ['deny', 'ingress', 'x/b', 81, ['x/allow-a-to-b']]);
    assert.equal(auditRecord(pins[1]!, ctx), undefined, 'a packet-in of a non-audit flow is ignored');
  });

  it('token bucket: burst, then the rate, and counts the refused', () => {
    let now = 0;
    const b = new TokenBucket(10, 5, () => now);
    const first = Array.from({ length: 20 }, () => b.take()).filter(Boolean).length;
    assert.equal(first, 5);
    now += 1000;
    assert.equal(Array.from({ length: 20 }, () => b.take()).filter(Boolean).length, 5, 'refilled to the burst, not beyond');
    assert.equal(b.drainSuppressed(), 30);
  });
});
