// NetworkPolicy conformance on the harness: the upstream Kubernetes e2e model (namespaces x, y, z;
// pods a, b, c; servers on 80/81 TCP/UDP with named ports), 2 or 3 nodes, policies applied with the real
// kubectl from e2e/netpol/policies/*.yaml, full truth tables probed pod to pod after every change,
// the all-allowed baseline checked after every deletion. Model and helpers: e2e/netpol/.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { requireRoot } from '../../node-agent/test/support/netns.js';
import { ApiRequestError } from '../lib/api-client.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import type { ClusterNode } from '../lib/cluster-node.js';
import type { PortProtocol } from '../lib/matrix.js';
import type { Pod } from '../lib/pods.js';
import type { Endpoint } from '../lib/probe.js';
import {
  ALL_TARGETS, allowAll, checkTables, createModelPods, createPodRetryingNetnsRace, describeMismatch, nameOf, nsOf, TCP80, TCP81, UDP81,
  waitForTables, type Expectation, type PodKey,
} from '../netpol/model.js';
import { applyPolicy, deletePolicy, type PodIps } from '../netpol/policy-files.js';

const is = (t: PortProtocol, want: PortProtocol): boolean => t.port === want.port && t.protocol === want.protocol;

/** 2 nodes by default (the machine is small); LOOM_NETPOL_NODES=3 for the full upstream spread. */
function nodeCount(): number {
  const n = Number(process.env.LOOM_NETPOL_NODES ?? '2');
  if (n !== 2 && n !== 3) throw new Error(`LOOM_NETPOL_NODES must be 2 or 3, got "${process.env.LOOM_NETPOL_NODES}"`);
  return n;
}

function ipInCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const toInt = (a: string): number => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const bits = Number(len);
  const mask = bits === 0 ? 0 : 2 ** 32 - 2 ** (32 - bits);
  return ((toInt(ip) & mask) >>> 0) === ((toInt(net!) & mask) >>> 0);
}

async function ofFlows(node: ClusterNode): Promise<string> {
  return (await execa('ovs-ofctl', ['-O', 'OpenFlow15', '--no-stats', 'dump-flows', node.ovs.mgmt('br-int')], { timeout: 20000 })).stdout;
}

describe('NetworkPolicy conformance: upstream netpol model on 2-3 nodes, kubectl apply, full truth tables', function () {
  this.timeout(600000);
  let cluster: Cluster;
  let pods: Pod[] = [];
  let ips: PodIps = {};
  const applied = new Set<string>();

  const podByKey = (key: PodKey): Pod => {
    const p = pods.find((x) => x.key === key);
    if (!p) throw new Error(`no model pod ${key}`);
    return p;
  };

  /** Waits until the full tables (all model pods, 80/81 TCP/UDP) match `expect`. */
  const expectTables = (what: string, expect: Expectation, endpoints: Endpoint[] = pods): Promise<unknown> =>
    waitForTables(cluster, endpoints, ALL_TARGETS, expect, what);

  const apply = async (file: string): Promise<void> => {
    applied.add(file);
    await applyPolicy(cluster, file, ips);
  };

  /** Deletes the policies a case applied; with `checkBaseline`, waits for the all-allowed tables. */
  const cleanup = async (checkBaseline: boolean): Promise<void> => {
    for (const file of [...applied].reverse()) await deletePolicy(cluster, file, ips);
    applied.clear();
    if (checkBaseline) await expectTables('after deleting the policies (all-allowed baseline)', allowAll);
  };

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: nodeCount() });
    pods = await createModelPods(cluster);
    ips = Object.fromEntries(pods.map((p) => [p.key, p.ip]));
    await expectTables('baseline without policies', allowAll);
  });

  afterEach(async function () {
    // a failed case must not poison the next: remove its policies (and labels, see the cases)
    if (this.currentTest?.state !== 'passed' && cluster) await cleanup(false).catch(() => undefined);
  });

  after(async () => {
    await cluster?.teardown();
  });

  it('spreads the model so that every table has cross-node pairs', () => {
    assert.equal(pods.length, 9);
    for (const node of cluster.nodes) assert.ok(pods.filter((p) => p.node === node).length >= 3, `at least 3 model pods on ${node.name}`);
    for (const ns of ['x', 'y', 'z']) {
      assert.equal(new Set(pods.filter((p) => nsOf(p.key) === ns).map((p) => p.node.name)).size, cluster.nodes.length, `pods of ${ns} on every node`);
    }
  });

  describe('default deny', () => {
    it('default-deny-ingress isolates every pod of x for ingress only', async () => {
      await apply('deny-ingress');
      await expectTables('deny-ingress in x', (_from, to) => nsOf(to) !== 'x');
      await cleanup(true);
    });

    it('default-deny-egress isolates every pod of x for egress only', async () => {
      await apply('deny-egress');
      await expectTables('deny-egress in x', (from) => nsOf(from) !== 'x');
      await cleanup(true);
    });

    it('default-deny-all (empty ingress: [] and egress: []) isolates x both ways', async () => {
      await apply('deny-all');
      await expectTables('deny-all in x', (from, to) => nsOf(from) !== 'x' && nsOf(to) !== 'x');
      await cleanup(true);
    });

    it('allow-all ingress stacked on default-deny-ingress restores everything (policies are additive)', async () => {
      await apply('deny-ingress');
      await expectTables('deny-ingress in x', (_from, to) => nsOf(to) !== 'x');
      await apply('allow-all-ingress');
      await expectTables('deny-ingress + allow-all-ingress in x', allowAll);
      await cleanup(true);
    });

    it('keeps traffic from the pod\'s own node (kubelet probes) allowed under default-deny-ingress', async () => {
      await apply('deny-ingress');
      await expectTables('deny-ingress in x', (_from, to) => nsOf(to) !== 'x');
      for (const node of cluster.nodes) {
        const local = pods.filter((p) => p.node === node);
        const from: Endpoint = { key: node.name, netns: node.netns, ip: node.internalIp };
        const results = await cluster.probe(from, local.flatMap((p) => [{ ip: p.ip, port: 80, protocol: 'TCP' as const }, { ip: p.ip, port: 81, protocol: 'UDP' as const }]), { timeoutMs: 3000, retries: 1 });
        for (const r of results) assert.ok(r.ok, `node ${node.name} -> ${r.ip} ${r.protocol}/${r.port} blocked under default-deny-ingress: ${r.error}`);
      }
      await cleanup(true);
    });
  });

  describe('selectors', () => {
    it('podSelector: x/a accepts only x/b', async () => {
      await apply('allow-from-pod-b');
      await expectTables('allow-from-pod-b', (from, to) => to !== 'x/a' || from === 'x/b');
      await cleanup(true);
    });

    it('namespaceSelector: x/a accepts only namespace y', async () => {
      await apply('allow-from-ns-y');
      await expectTables('allow-from-ns-y', (from, to) => to !== 'x/a' || nsOf(from) === 'y');
      await cleanup(true);
    });

    it('podSelector AND namespaceSelector in one peer: only y/b', async () => {
      await apply('allow-pod-b-and-ns-y');
      await expectTables('allow-pod-b-and-ns-y', (from, to) => to !== 'x/a' || from === 'y/b');
      await cleanup(true);
    });

    it('podSelector OR namespaceSelector as two peers: x/b and all of y', async () => {
      await apply('allow-pod-b-or-ns-y');
      await expectTables('allow-pod-b-or-ns-y', (from, to) => to !== 'x/a' || from === 'x/b' || nsOf(from) === 'y');
      await cleanup(true);
    });

    it('matchExpressions In and NotIn (targets and peers)', async () => {
      await apply('match-expressions-in-notin');
      await expectTables('match-expressions-in-notin', (from, to) =>
        (to !== 'x/a' && to !== 'x/b') || (nsOf(from) !== 'x' && nameOf(from) !== 'c'));
      await cleanup(true);
    });

    it('matchExpressions Exists and DoesNotExist', async () => {
      await apply('match-expressions-exists');
      await expectTables('match-expressions-exists', (from, to) => nsOf(to) !== 'x' || nameOf(from) === 'c');
      await cleanup(true);
    });
  });

  describe('ports and protocols', () => {
    it('numeric port, ingress: x/a accepts only TCP 80', async () => {
      await apply('ingress-tcp-80');
      await expectTables('ingress-tcp-80', (_from, to, t) => to !== 'x/a' || is(t, TCP80));
      await cleanup(true);
    });

    it('numeric port, egress: x/a may only send to TCP 81', async () => {
      await apply('egress-tcp-81');
      await expectTables('egress-tcp-81', (from, _to, t) => from !== 'x/a' || is(t, TCP81));
      await cleanup(true);
    });

    it('named port, ingress: pods of x accept only serve-81-udp', async () => {
      await apply('ingress-named-udp-81');
      await expectTables('ingress-named-udp-81', (_from, to, t) => nsOf(to) !== 'x' || is(t, UDP81));
      await cleanup(true);
    });

    it('named ports resolve per pod: serve-80-tcp is TCP 81 on x/n, TCP 80 elsewhere (ingress and egress)', async () => {
      // x/n names its TCP 81 serve-80-tcp and its TCP 80 http-alt; it is on node 2, x/a on node 1
      const n = await createPodRetryingNetnsRace(cluster, {
        namespace: 'x', name: 'n', node: 2, labels: { pod: 'n' },
        containerPorts: [
          { name: 'http-alt', containerPort: 80, protocol: 'TCP' }, { name: 'serve-80-tcp', containerPort: 81, protocol: 'TCP' },
          { name: 'serve-80-udp', containerPort: 80, protocol: 'UDP' }, { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' },
        ],
      });
      try {
        const withN = [...pods, n];
        const serve80tcp = (to: PodKey, t: PortProtocol): boolean => is(t, to === 'x/n' ? TCP81 : TCP80);
        await expectTables('all allowed with x/n', allowAll, withN);
        await apply('ingress-named-tcp-80');
        await expectTables('ingress-named-tcp-80', (_from, to, t) => nsOf(to) !== 'x' || serve80tcp(to, t), withN);
        await deletePolicy(cluster, 'ingress-named-tcp-80', ips);
        applied.delete('ingress-named-tcp-80');
        await apply('egress-named-tcp-80');
        await expectTables('egress-named-tcp-80', (from, to, t) => from !== 'x/a' || serve80tcp(to, t), withN);
        await deletePolicy(cluster, 'egress-named-tcp-80', ips);
        applied.delete('egress-named-tcp-80');
        await expectTables('all allowed with x/n after deleting the named-port policies', allowAll, withN);
      } finally {
        await cluster.deletePod(n);
      }
    });

    it('endPort range, ingress: x/a accepts TCP 80-81 and no UDP', async () => {
      await apply('ingress-endport');
      await expectTables('ingress-endport', (_from, to, t) => to !== 'x/a' || t.protocol === 'TCP');
      await cleanup(true);
    });

    it('endPort range, egress: x/a may only send UDP 81-90', async () => {
      await apply('egress-endport');
      await expectTables('egress-endport', (from, _to, t) => from !== 'x/a' || is(t, UDP81));
      await cleanup(true);
    });

    it('allow only UDP must not allow TCP', async () => {
      await apply('ingress-udp-only');
      await expectTables('ingress-udp-only', (_from, to, t) => to !== 'x/a' || t.protocol === 'UDP');
      await cleanup(true);
    });

    it('allow only SCTP must not allow TCP or UDP; the SCTP rule is installed as flows (no SCTP in this kernel)', async () => {
      await apply('ingress-sctp-only');
      await expectTables('ingress-sctp-only', (_from, to) => to !== 'x/a');
      const node = podByKey('x/a').node;
      const flows = await ofFlows(node);
      const sctp = flows.split('\n').filter((l) => /\bsctp\b/.test(l) && /tp_dst=80\b/.test(l) && /conjunction\(/.test(l));
      assert.ok(sctp.length >= 1, `no sctp,tp_dst=80 conjunction flow on ${node.name} for ingress-sctp-only:\n${flows}`);
      await cleanup(true);
    });
  });

  describe('ipBlock', () => {
    it('ingress ipBlock with except, updated with kubectl apply, and an overlapping allow', async () => {
      await apply('ingress-ipblock-except');
      await expectTables('ingress-ipblock except y/b', (from, to) => to !== 'x/a' || from !== 'y/b');
      await apply('ingress-ipblock-except-updated');
      await expectTables('ingress-ipblock except z/c and x/b (updated)', (from, to) => to !== 'x/a' || (from !== 'z/c' && from !== 'x/b'));
      await apply('ingress-ipblock-overlap');
      await expectTables('ingress-ipblock + a policy allowing z/c/32', (from, to) => to !== 'x/a' || from !== 'x/b');
      await cleanup(true);
    });

    it('egress ipBlock with except: x/a may send to y/b\'s node pod CIDR except y/b', async () => {
      const yb = podByKey('y/b');
      await apply('egress-ipblock-except');
      await expectTables('egress-ipblock', (from, to) => from !== 'x/a' || (to !== 'y/b' && ipInCidr(podByKey(to).ip, `${yb.ip}/24`)));
      await cleanup(true);
    });
  });

  describe('stacking, updates and deletion', () => {
    it('stacked policies are a union; deleting one leaves the other in force', async () => {
      await apply('allow-from-ns-y');
      await apply('stacked-from-pod-c');
      await expectTables('allow-from-ns-y + stacked-from-pod-c', (from, to, t) => to !== 'x/a' || nsOf(from) === 'y' || (from === 'x/c' && is(t, TCP81)));
      await deletePolicy(cluster, 'allow-from-ns-y', ips);
      applied.delete('allow-from-ns-y');
      await expectTables('stacked-from-pod-c alone', (from, to, t) => to !== 'x/a' || (from === 'x/c' && is(t, TCP81)));
      await cleanup(true);
    });

    it('pod label update of a peer (kubectl label) grants and revokes access', async () => {
      await apply('allow-from-role-client');
      const noClient: Expectation = (_from, to) => to !== 'x/a';
      await expectTables('allow-from-role-client without clients', noClient);
      try {
        await cluster.kubectl(['label', 'pod', 'c', 'role=client', '-n', 'y']);
        await expectTables('y/c labelled role=client', (from, to) => to !== 'x/a' || from === 'y/c');
      } finally {
        await cluster.kubectl(['label', 'pod', 'c', 'role-', '-n', 'y']);
      }
      await expectTables('role label removed from y/c', noClient);
      await cleanup(true);
    });

    it('pod label update of a target isolates it and releases it', async () => {
      await apply('isolate-role-server');
      await expectTables('isolate-role-server, no pod labelled yet', allowAll);
      try {
        await cluster.kubectl(['label', 'pod', 'b', 'role=server', '-n', 'x']);
        await expectTables('x/b labelled role=server', (_from, to) => to !== 'x/b');
      } finally {
        await cluster.kubectl(['label', 'pod', 'b', 'role-', '-n', 'x']);
      }
      await expectTables('role label removed from x/b', allowAll);
      await cleanup(true);
    });

    it('namespace label update (kubectl label ns) grants and revokes access', async () => {
      await apply('allow-from-team-blue');
      const noTeam: Expectation = (_from, to) => to !== 'x/a';
      await expectTables('allow-from-team-blue without labelled namespaces', noTeam);
      try {
        await cluster.kubectl(['label', 'namespace', 'z', 'team=blue']);
        await expectTables('namespace z labelled team=blue', (from, to) => to !== 'x/a' || nsOf(from) === 'z');
      } finally {
        await cluster.kubectl(['label', 'namespace', 'z', 'team-']);
      }
      await expectTables('team label removed from namespace z', noTeam);
      await cleanup(true);
    });
  });

  describe('invalid and unsupported policies', () => {
    const invalid: Array<{ file: string; field: RegExp }> = [
      { file: 'invalid-bad-cidr', field: /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr/ },
      { file: 'invalid-except-outside', field: /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]/ },
      { file: 'invalid-endport-below-port', field: /spec\.ingress\[0\]\.ports\[0\]\.endPort/ },
      { file: 'invalid-named-endport', field: /spec\.ingress\[0\]\.ports\[0\]\.endPort/ },
      { file: 'invalid-protocol', field: /spec\.ingress\[0\]\.ports\[0\]\.protocol/ },
    ];

    it('rejects invalid policies at the API server (422 naming the field); they never reach the agents and traffic is unchanged', async () => {
      for (const { file, field } of invalid) {
        const r = await applyPolicy(cluster, file, ips, { reject: false });
        assert.notEqual(r.exitCode, 0, `kubectl apply of ${file} must fail`);
        assert.match(r.stderr, /is invalid/, `${file}: kubectl should report an Invalid (422) error:\n${r.stderr}`);
        assert.match(r.stderr, field, `${file}: the error must name the field:\n${r.stderr}`);
        await assert.rejects(cluster.api.get('networkpolicies', 'x', file), (e: unknown) => e instanceof ApiRequestError && e.code === 404, `${file} must not be stored`);
      }
      await expectTables('after the rejected policies (nothing changes)', allowAll);
      for (const node of cluster.nodes) {
        const log = await readFile(node.agentLog, 'utf8');
        for (const { file } of invalid) assert.ok(!log.includes(file), `agent log of ${node.name} mentions the rejected policy ${file}`);
      }
    });

    it('logs a policy it cannot honour (IPv6 ipBlock) with its name, allows nothing through it, and leaves other policies alone', async () => {
      await apply('deny-ingress');
      await apply('ipv6-ipblock');
      // y/a is isolated by ipv6-ipblock (its only peer is unusable) and x by deny-ingress
      await expectTables('deny-ingress + ipv6-ipblock', (_from, to) => nsOf(to) !== 'x' && to !== 'y/a');
      const node = podByKey('y/a').node;
      const line = (await readFile(node.agentLog, 'utf8')).split('\n').find((l) => l.includes('ipv6-ipblock') && /warn/.test(l));
      assert.ok(line, `agent log of ${node.name} has no warning naming y/ipv6-ipblock:\n${await node.agentLogTail(20)}`);
      assert.match(line, /fd00::\/64|IPv6/, `the warning should say what is wrong: ${line}`);
      await cleanup(true);
    });
  });

  it('reports mismatches readably (the comparison can fail)', async () => {
    const wrong = await checkTables(cluster, pods.slice(0, 3), [TCP80], (_from, to) => to !== pods[0]!.key);
    assert.equal(wrong.ok, false);
    assert.match(describeMismatch(wrong), /\+/);
  });
});
