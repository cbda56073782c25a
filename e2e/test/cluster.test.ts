// The simulated cluster end to end: 3 nodes (namespace + OVS + loom-agent each), the test API server,
// pods created the way kubelet + containerd create them, probes, kubectl.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { listNetns, requireRoot } from '../../node-agent/test/support/netns.js';
import { ApiRequestError } from '../lib/api-client.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import type { ClusterNode } from '../lib/cluster-node.js';
import { cell, formatMatrix } from '../lib/matrix.js';
import type { Pod } from '../lib/pods.js';

const SERVE = [
  { name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' as const },
  { name: 'serve-80-udp', containerPort: 80, protocol: 'UDP' as const },
  { name: 'serve-81-tcp', containerPort: 81, protocol: 'TCP' as const },
];

function inCidr(ip: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = Number(len) === 0 ? 0 : 2 ** 32 - 2 ** (32 - Number(len));
  return (toInt(ip) & mask) >>> 0 === (toInt(net!) & mask) >>> 0;
}

async function ipamHolds(node: ClusterNode, containerId: string): Promise<boolean> {
  return (await readFile(join(node.dir, 'state', 'ipam.json'), 'utf8')).includes(containerId);
}

describe('e2e cluster: 3 nodes, pods through loom-cni, kubectl', function () {
  this.timeout(180000);
  let cluster: Cluster;
  let a: Pod;
  let b: Pod;
  let c: Pod;

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: 3 });
    [a, b, c] = await Promise.all([
      cluster.createPod({ namespace: 'x', name: 'a', node: 1, labels: { pod: 'a' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'x', name: 'b', node: 1, labels: { pod: 'b' }, containerPorts: SERVE, annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '20M' } }),
      cluster.createPod({ namespace: 'y', name: 'c', node: 2, labels: { pod: 'c' }, containerPorts: SERVE }),
    ]);
  });
  after(async () => {
    await cluster?.teardown();
  });

  it('registers every node with its podCIDR and InternalIP, each with a ready agent', async () => {
    const nodes = (await cluster.api.list('nodes')).items;
    assert.deepEqual(nodes.map((n) => n.metadata?.name).sort(), cluster.nodes.map((n) => n.name).sort());
    for (const n of cluster.nodes) {
      const obj = nodes.find((o) => o.metadata?.name === n.name)!;
      assert.deepEqual(obj.spec?.podCIDRs, [n.podCidr]);
      assert.equal(obj.status?.addresses?.find((x) => x.type === 'InternalIP')?.address, n.internalIp);
      await n.waitAgentReady(5000);
    }
    assert.deepEqual(cluster.nodes.map((n) => n.podCidr), ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24']);
  });

  it('gives pods IPs in their node\'s podCIDR and writes them into the Pod status', async () => {
    for (const p of [a, b, c]) {
      assert.ok(inCidr(p.ip, p.node.podCidr), `${p.key} has ${p.ip}, outside ${p.node.podCidr}`);
      const obj = await cluster.api.get('pods', p.namespace, p.name);
      assert.equal(obj.status?.podIP, p.ip);
      assert.equal(obj.status?.phase, 'Running');
      assert.equal(obj.spec?.nodeName, p.node.name);
      assert.deepEqual(obj.spec?.containers[0]?.ports?.map((x) => x.name), SERVE.map((s) => s.name));
    }
    assert.equal(new Set([a.ip, b.ip]).size, 2);
  });

  it('passes the pod identity from CNI_ARGS to the agent (OVS port external_ids)', async () => {
    const ports = await a.node.podPorts();
    const ofA = ports.find((p) => p.externalIds['loom-container-id'] === a.sandboxId);
    assert.ok(ofA, `no OVS port for ${a.key} (sandbox ${a.sandboxId}) on ${a.node.name}: ${JSON.stringify(ports)}`);
    assert.equal(ofA.externalIds['loom-pod-namespace'], 'x');
    assert.equal(ofA.externalIds['loom-pod-name'], 'a');
    assert.equal(ofA.externalIds['loom-pod-uid'], a.uid);
    assert.equal(ofA.externalIds['loom-ip'], a.ip);
  });

  it('connects pods on the same node over TCP and UDP, and the server answers with its pod name', async () => {
    const results = await cluster.probe(a, [
      { ip: b.ip, port: 80, protocol: 'TCP' },
      { ip: b.ip, port: 81, protocol: 'TCP' },
      { ip: b.ip, port: 80, protocol: 'UDP' },
    ]);
    for (const r of results) {
      assert.ok(r.ok, `${a.key} -> ${b.key} ${r.protocol}/${r.port}: ${r.error}`);
      assert.equal(r.reply, 'b');
    }
    const [tcp, udp] = await cluster.probeMatrix([a, b], [{ port: 80, protocol: 'TCP' }, { port: 80, protocol: 'UDP' }]);
    for (const t of [tcp!, udp!]) {
      for (const from of t.pods) for (const to of t.pods) assert.ok(cell(t, from, to), `${from} -> ${to} blocked:\n${formatMatrix(t)}`);
    }
  });

  it('reports a closed port as blocked (the probe can fail)', async () => {
    const [r] = await cluster.probe(a, [{ ip: b.ip, port: 9, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 });
    assert.equal(r!.ok, false);
  });

  it('shows the pods with IP and node in `kubectl get pods -A -o wide`', async () => {
    const { stdout } = await cluster.kubectl(['get', 'pods', '-A', '-o', 'wide']);
    for (const p of [a, b, c]) {
      const line = stdout.split('\n').find((l) => l.split(/\s+/)[1] === p.name);
      assert.ok(line, `${p.key} missing from:\n${stdout}`);
      assert.match(line, new RegExp(`^${p.namespace}\\s+${p.name}\\s+1/1\\s+Running\\s.*\\s${p.ip.replace(/\./g, '\\.')}\\s+${p.node.name}`));
    }
  });

  it('applies, reads and deletes a NetworkPolicy with the real kubectl', async () => {
    const policy = JSON.stringify({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-b', namespace: 'x' },
      spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 'serve-80-tcp' }] }] },
    });
    const applied = await cluster.kubectl(['apply', '-f', '-'], { input: policy });
    assert.match(applied.stdout, /networkpolicy.networking.k8s.io\/allow-b created/);
    const stored = await cluster.api.get('networkpolicies', 'x', 'allow-b');
    assert.equal(stored.spec?.ingress?.[0]?.ports?.[0]?.port, 'serve-80-tcp');
    const bad = await cluster.kubectl(['apply', '-f', '-'], { reject: false, input: policy.replace('"port":"serve-80-tcp"', '"port":80,"endPort":79') });
    assert.notEqual(bad.exitCode, 0, 'endPort below port must be rejected');
    assert.match(bad.stderr, /endPort/);
    await cluster.kubectl(['delete', 'networkpolicy', 'allow-b', '-n', 'x']);
    await assert.rejects(cluster.api.get('networkpolicies', 'x', 'allow-b'), (e: unknown) => e instanceof ApiRequestError && e.code === 404);
  });

  it('leaves no netns, OVS port, IP allocation or Pod object behind when a pod is deleted', async () => {
    const d = await cluster.createPod({ namespace: 'y', name: 'd', node: 3, containerPorts: [{ containerPort: 80 }] });
    assert.ok((await listNetns()).includes(d.netns));
    assert.ok((await d.node.podPorts()).some((p) => p.externalIds['loom-container-id'] === d.sandboxId));
    assert.ok(await ipamHolds(d.node, d.sandboxId));
    await cluster.deletePod(d);
    assert.ok(!(await listNetns()).includes(d.netns), 'pod netns removed');
    assert.deepEqual((await d.node.podPorts()).filter((p) => p.externalIds['loom-container-id'] === d.sandboxId), [], 'OVS port removed');
    assert.equal(await ipamHolds(d.node, d.sandboxId), false, 'IP released');
    await assert.rejects(cluster.api.get('pods', 'y', 'd'), (e: unknown) => e instanceof ApiRequestError && e.code === 404);
    // the name can be used again at once, as after a real pod deletion
    const again = await cluster.createPod({ namespace: 'y', name: 'd', node: 3 });
    assert.ok(inCidr(again.ip, again.node.podCidr));
    await cluster.deletePod(again);
  });

  it('rolls a failed ADD back like containerd (DEL), leaving no sandbox or Pod object', async () => {
    const node = cluster.node(3);
    await node.stopAgent('SIGTERM');
    try {
      await assert.rejects(cluster.createPod({ namespace: 'y', name: 'e', node: 3 }), /creating pod y\/e on .* failed: CNI ADD of loom-cni failed/);
      assert.ok(!(await listNetns()).some((n) => n.startsWith(`${cluster.prefix}p-`) && !cluster.pods().some((p) => p.netns === n)), 'no orphan pod netns');
      await assert.rejects(cluster.api.get('pods', 'y', 'e'), (e: unknown) => e instanceof ApiRequestError && e.code === 404);
    } finally {
      await node.startAgent();
    }
    const e = await cluster.createPod({ namespace: 'y', name: 'e', node: 3 });
    assert.ok(inCidr(e.ip, node.podCidr));
    await cluster.deletePod(e);
  });
});
