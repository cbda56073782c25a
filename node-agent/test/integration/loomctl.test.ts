// loomctl against real agents on the e2e harness (2 nodes, test API server, real NetworkPolicies):
// trace verdicts must match what real connections between the same pods do, and policy audit
// logging must write allowed and denied connections, rate-limited, and survive its reader dying.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { startCluster, type Cluster } from '../../../e2e/lib/cluster.js';
import type { Pod } from '../../../e2e/lib/pods.js';
import { REPO_ROOT } from '../support/agent-node.js';
import { requireRoot } from '../support/netns.js';
import type { TraceResult } from '../../src/debugapi/types.js';
import type { AuditRecord } from '../../src/audit/record.js';

const LOOMCTL = join(REPO_ROOT, 'dist/loomctl.mjs');
const SERVE = [{ containerPort: 80, name: 'serve-80-tcp' }, { containerPort: 81, name: 'serve-81-tcp' }];

describe('loomctl on a 2-node cluster (real OVS, real policies)', function () {
  this.timeout(240000);
  let cluster: Cluster;
  let a: Pod;
  let b: Pod;
  let c: Pod;
  const socketOf = (p: Pod) => join(dirname(p.node.cniSocket), 'loomctl.sock');
  const auditLog = (p: Pod) => join(p.node.dir, 'audit', 'audit.log');
  const loomctl = async (on: Pod, args: string[]) => {
    const r = await execa(process.execPath, [LOOMCTL, '--socket', socketOf(on), ...args], { reject: false, timeout: 60000 });
    return { code: r.exitCode ?? -1, out: r.stdout, err: r.stderr };
  };
  const trace = async (on: Pod, src: Pod, dst: Pod, port: number): Promise<TraceResult> => {
    const r = await loomctl(on, ['--json', 'trace', src.key, dst.key, '--proto', 'tcp', '--port', String(port)]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as TraceResult;
  };
  const reach = async (src: Pod, dst: Pod, port: number) => (await cluster.probe(src, [{ ip: dst.ip, port, protocol: 'TCP' }], { timeoutMs: 1000, retries: 1 }))[0]!.ok;
  const records = async (p: Pod): Promise<Array<AuditRecord & { event?: string; suppressed?: number }>> =>
    (await readFile(auditLog(p), 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  const waitFor = async <T>(what: string, f: () => Promise<T | undefined>, ms = 10000): Promise<T> => {
    const until = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: 2 });
    await cluster.api.create('namespaces', undefined, { metadata: { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' }, annotations: { 'loom.io/policy-audit': 'true' } } });
    await cluster.api.ensureNamespace('y', { 'kubernetes.io/metadata.name': 'y' });
    [a, b, c] = await Promise.all([
      cluster.createPod({ namespace: 'x', name: 'a', node: 1, labels: { pod: 'a' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'x', name: 'b', node: 1, labels: { pod: 'b' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'y', name: 'c', node: 2, labels: { pod: 'c' }, containerPorts: SERVE }),
    ]);
    await cluster.api.create('networkpolicies', 'x', {
      metadata: { name: 'allow-a-to-b', namespace: 'x' },
      spec: { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ port: 80, protocol: 'TCP' }] }] },
    } as never);
    await cluster.api.create('networkpolicies', 'y', { metadata: { name: 'deny-egress', namespace: 'y' }, spec: { podSelector: {}, policyTypes: ['Egress'] } });
    // policies are realized when the real probes agree
    await waitFor('policies to be realized', async () => ((await reach(a, b, 80)) && !(await reach(a, b, 81)) && !(await reach(c, a, 80)) ? true : undefined), 30000);
  });
  after(async () => {
    await cluster?.teardown();
  });

  it('allowed: the trace names the ingress rule, and the connection really works', async () => {
    const t = await trace(a, a, b, 80);
    assert.equal(t.verdict, 'allowed', t.reason);
    const ing = t.decisions.find((d) => d.direction === 'ingress')!;
    assert.deepEqual([ing.kind, ing.namespace, ing.name, ing.ruleIndex], ['rule', 'x', 'allow-a-to-b', 0]);
    assert.equal(await reach(a, b, 80), true);
  });

  it('policy-dropped (port not allowed by the rule): the trace names the isolating policy, and the connection really fails', async () => {
    const t = await trace(a, a, b, 81);
    assert.equal(t.verdict, 'dropped');
    const iso = t.decisions.find((d) => d.kind === 'isolation')!;
    assert.deepEqual([iso.direction, iso.pod, iso.policies], ['ingress', 'x/b', ['x/allow-a-to-b']]);
    assert.equal(t.steps.at(-1)!.table, 65);
    assert.equal(await reach(a, b, 81), false);
  });

  it('isolation-dropped (default deny egress, no rules): traced on the source node, and the connection really fails', async () => {
    const t = await trace(c, c, a, 80);
    assert.equal(t.verdict, 'dropped');
    const iso = t.decisions.find((d) => d.kind === 'isolation')!;
    assert.deepEqual([iso.direction, iso.pod, iso.policies], ['egress', 'y/c', ['y/deny-egress']]);
    assert.equal(await reach(c, a, 80), false);
  });

  it('cross-node: the first half ends at the tunnel naming the next node; that node traces the second half', async () => {
    const first = await trace(a, a, c, 80);
    assert.equal(first.verdict, 'allowed');
    assert.equal(first.continuesOn?.node, c.node.name);
    const second = await trace(c, a, c, 80);
    assert.equal(second.verdict, 'allowed');
    assert.equal(second.steps[0]!.text, 'comes from the tunnel (another node)');
    assert.equal(second.steps.at(-1)!.table, 80);
    assert.equal(await reach(a, c, 80), true);
    // and from a node holding neither pod, loomctl says where to run it
    const r = await loomctl(a, ['trace', c.key, 'y/c']);
    assert.equal(r.code, 1);
  });

  it('pods, policies and flows answer in a terminal and as JSON', async () => {
    const pods = JSON.parse((await loomctl(a, ['--json', 'pods'])).out) as { pods: Array<{ name: string; isolation: { ingress: boolean }; audited: boolean }> };
    assert.deepEqual(pods.pods.map((p) => [p.name, p.isolation.ingress, p.audited]), [['a', false, true], ['b', true, true]]);
    const text = await loomctl(a, ['policies', 'x/b']);
    assert.match(text.out, /ingress rule 0: from pods pod=a \(same namespace\); ports TCP\/80/);
    const flows = JSON.parse((await loomctl(a, ['--json', 'flows', '--pod', 'x/b', '--table', '65'])).out) as { flows: Array<{ owner: { kind: string } }> };
    assert.ok(flows.flows.some((f) => f.owner.kind === 'policy-isolation'), JSON.stringify(flows));
  });

  it('audit: logs allowed and denied new connections of the annotated namespace with the deciding rule', async () => {
    assert.equal(await reach(a, b, 80), true);
    assert.equal(await reach(a, b, 81), false);
    const allow = await waitFor('an allow record a->b:80', async () => (await records(a)).find((r) => r.verdict === 'allow' && r.dst.pod === 'x/b' && r.dst.port === 80));
    assert.deepEqual(allow.ingress, { namespace: 'x', name: 'allow-a-to-b', direction: 'ingress', index: 0 });
    const deny = await waitFor('a deny record a->b:81', async () => (await records(a)).find((r) => r.verdict === 'deny' && r.dst.pod === 'x/b' && r.dst.port === 81));
    assert.deepEqual([deny.direction, deny.src.pod, deny.isolatedBy], ['ingress', 'x/a', ['x/allow-a-to-b']]);
    // namespace y is not annotated: nothing is logged on node 2
    assert.equal(await reach(c, a, 80), false);
    assert.deepEqual(await records(c), []);
  });

  it('audit: a flood of denied connections is rate-limited and reported as suppressed', async () => {
    const before = (await records(a)).length;
    const started = Date.now();
    await cluster.probe(a, Array.from({ length: 300 }, () => ({ ip: b.ip, port: 81, protocol: 'TCP' as const })), { timeoutMs: 300, retries: 0 });
    const summary = await waitFor('a rate-limited line', async () => (await records(a)).slice(before).find((r) => r.event === 'rate-limited'));
    const seconds = (Date.now() - started) / 1000;
    const denied = (await records(a)).slice(before).filter((r) => r.verdict === 'deny').length;
    assert.ok(summary.suppressed! > 0);
    assert.ok(denied < 300, `${denied} lines for 300 attempts`);
    assert.ok(denied <= 40 + 20 * (seconds + 1), `${denied} lines in ${seconds.toFixed(1)} s exceed burst 40 + 20/s`);
  });

  it('audit: the packet-in reader is restarted when it dies', async () => {
    const ctl = join(dirname(a.node.cniSocket), 'loom-audit-monitor.ctl');
    const pids: number[] = [];
    for (const d of await readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes('monitor') && cmd.includes(`--unixctl=${ctl}`)) pids.push(Number(d));
    }
    assert.equal(pids.length, 1, `one reader for ${a.node.name}, found ${pids.length}`);
    process.kill(pids[0]!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 3000)); // rate limit refill and the reader's restart backoff
    const before = (await records(a)).length;
    assert.equal(await reach(a, b, 80), true);
    await waitFor('an allow record after the restart', async () => (await records(a)).slice(before).find((r) => r.verdict === 'allow' && r.dst.port === 80));
  });
});
