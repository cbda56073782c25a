// Multi-node pod network (issue 4): VXLAN overlay full mesh, node lifecycle, external and node
// connectivity, MTU, and an agent restart under a running cross-node TCP stream.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { requireRoot } from '../../node-agent/test/support/netns.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import type { ClusterNode } from '../lib/cluster-node.js';
import { eventually } from '../lib/wait.js';
import { formatMatrix } from '../lib/matrix.js';
import type { Pod } from '../lib/pods.js';

const PORTS = [
  { name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' as const },
  { name: 'serve-80-udp', containerPort: 80, protocol: 'UDP' as const },
];

async function tunnelFlows(node: ClusterNode): Promise<string[]> {
  const r = await node.exec('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', node.ovs.mgmt('br-int'), 'table=40']);
  return r.stdout.split('\n').filter((l) => l.includes('tun_dst'));
}
async function gwRoutes(node: ClusterNode): Promise<string> {
  return (await node.exec('ip', ['route', 'show', 'dev', 'loom-gw0'])).stdout;
}
const ping = (c: Cluster, from: Pod, ip: string, extra: string[] = []) =>
  c.exec(from, 'ping', ['-c', '1', '-W', '2', ...extra, ip], { reject: false });

describe('e2e overlay: 3 nodes, VXLAN full mesh, node lifecycle, external and node traffic', function () {
  this.timeout(300000);
  let cluster: Cluster;
  let pods: Pod[];

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: 3 });
    pods = await Promise.all(
      [1, 1, 2, 2, 3, 3].map((node, i) =>
        cluster.createPod({ namespace: 'mesh', name: `p${i}`, node, labels: { app: 'mesh' }, containerPorts: PORTS }),
      ),
    );
  });
  after(async () => {
    await cluster?.teardown();
  });

  it('every pod reaches every other pod on all nodes over TCP and UDP', async () => {
    const tables = await cluster.probeMatrix(pods, [
      { port: 80, protocol: 'TCP' },
      { port: 80, protocol: 'UDP' },
    ], { retries: 1 });
    for (const t of tables) {
      const blocked = t.pods.flatMap((from, i) => t.pods.filter((to, j) => i !== j && !t.allowed[i]![j]).map((to) => `${from} -> ${to}`));
      assert.deepEqual(blocked, [], `unreachable pairs:\n${formatMatrix(t)}`);
    }
  });

  it('every pod pings every other pod (ICMP), TTL shows the routed hops across nodes', async () => {
    const failures: string[] = [];
    await Promise.all(
      pods.map(async (from) => {
        for (const to of pods) {
          if (to === from) continue;
          const r = await ping(cluster, from, to.ip);
          if (r.exitCode !== 0) failures.push(`${from.key} -> ${to.key}`);
          else if (from.node !== to.node) assert.match(r.stdout, /ttl=62/, 'two routed hops (source and destination node)');
        }
      }),
    );
    assert.deepEqual(failures, []);
  });

  it('carries full-MTU packets across nodes (pod MTU = underlay 1500 - 50)', async () => {
    const [a, , c] = pods as [Pod, Pod, Pod];
    const mtu = await cluster.exec(a, 'cat', ['/sys/class/net/eth0/mtu']);
    assert.equal(mtu.stdout.trim(), '1450');
    const big = await ping(cluster, a, c.ip, ['-s', String(1450 - 28), '-M', 'do']);
    assert.equal(big.exitCode, 0, `1450-byte packet with DF across nodes: ${big.stdout}`);
    const tooBig = await ping(cluster, a, c.ip, ['-s', String(1451 - 28), '-M', 'do']);
    assert.notEqual(tooBig.exitCode, 0, 'a packet larger than the pod MTU cannot be sent with DF');
    // A bulk TCP transfer uses full-size segments.
    const server = execa('ip', ['netns', 'exec', c.netns, 'iperf3', '-s', '-1', '-p', '5201'], { reject: false });
    await new Promise((r) => setTimeout(r, 500));
    const client = await cluster.exec(a, 'iperf3', ['-c', c.ip, '-p', '5201', '-t', '2', '-J'], { reject: false });
    await server;
    const res = JSON.parse(client.stdout) as { end: { sum_received: { bytes: number } }; error?: string };
    assert.equal(res.error, undefined);
    assert.ok(res.end.sum_received.bytes > 1_000_000, `TCP bulk transfer across nodes: ${res.end.sum_received.bytes} bytes`);
  });

  it('masquerades pod traffic to the outside: the server sees the node IP, replies come back', async () => {
    const [a, , c] = pods as [Pod, Pod, Pod];
    const script = `const s=require('net').createServer(c=>{c.end(c.remoteAddress+'\\n')});s.listen(9099,'10.0.0.1',()=>console.log('ready'));setTimeout(()=>process.exit(0),20000)`;
    const server = execa('ip', ['netns', 'exec', cluster.underlayNetns, process.execPath, '-e', script], { reject: false });
    try {
      await new Promise((r) => setTimeout(r, 400));
      for (const p of [a, c]) {
        const r = await cluster.exec(p, 'nc', ['-w', '3', '10.0.0.1', '9099'], { reject: false });
        assert.equal(r.stdout.trim().replace('::ffff:', ''), p.node.internalIp, `${p.key} leaves as its node`);
      }
    } finally {
      server.kill();
      await server;
    }
  });

  it('node-to-pod works for local and remote pods (kubelet probes, hostNetwork pods)', async () => {
    const [a, , c] = pods as [Pod, Pod, Pod];
    const n1 = cluster.node(1);
    assert.equal((await n1.exec('ping', ['-c', '1', '-W', '2', a.ip], { reject: false })).exitCode, 0, 'node 1 -> local pod');
    assert.equal((await n1.exec('ping', ['-c', '1', '-W', '2', c.ip], { reject: false })).exitCode, 0, 'node 1 -> pod on node 2');
    assert.equal((await ping(cluster, c, n1.podCidr.replace(/0\/24$/, '1'))).exitCode, 0, 'pod on node 2 -> node 1 gateway');
  });

  it('a deleted node loses its flows and routes everywhere; re-adding it restores reachability', async () => {
    const n1 = cluster.node(1);
    const n3 = cluster.node(3);
    const [a, , , , e] = pods as [Pod, Pod, Pod, Pod, Pod];
    assert.equal((await tunnelFlows(n1)).filter((l) => l.includes(n3.podCidr)).length, 1);
    const saved = await cluster.api.get('nodes', undefined, n3.name);
    await cluster.api.delete('nodes', undefined, n3.name);
    await eventually('node 3 flows and route gone on node 1', async () => {
      assert.equal((await tunnelFlows(n1)).filter((l) => l.includes(n3.podCidr)).length, 0);
      assert.doesNotMatch(await gwRoutes(n1), new RegExp(n3.podCidr.replace(/\./g, '\\.')));
      return true;
    }, { timeoutMs: 5000 });
    assert.notEqual((await ping(cluster, a, e.ip)).exitCode, 0, 'no route to the deleted node');
    await cluster.api.create('nodes', undefined, { ...saved, metadata: { name: n3.name, labels: saved.metadata?.labels ?? {} } });
    await eventually('node 3 flows back on node 1', async () => (await tunnelFlows(n1)).filter((l) => l.includes(n3.podCidr)).length === 1, { timeoutMs: 5000 });
    await eventually('pod on node 1 reaches pod on node 3 again', async () => (await ping(cluster, a, e.ip)).exitCode === 0, { timeoutMs: 5000 });
  });

  it('a node whose InternalIP changes gets its tunnel flows updated', async () => {
    const n1 = cluster.node(1);
    const n2 = cluster.node(2);
    await cluster.api.mergePatch('nodes', undefined, n2.name, { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.99' }] } }, { status: true });
    await eventually('tunnel flow to the new IP', async () => (await tunnelFlows(n1)).some((l) => l.includes(n2.podCidr) && l.includes('10.0.0.99')), { timeoutMs: 5000 });
    await cluster.api.mergePatch('nodes', undefined, n2.name, { status: { addresses: [{ type: 'InternalIP', address: n2.internalIp }] } }, { status: true });
    await eventually('tunnel flow back to the old IP', async () => (await tunnelFlows(n1)).some((l) => l.includes(n2.podCidr) && l.includes(n2.internalIp)), { timeoutMs: 5000 });
  });

  it('restarting the agents during a cross-node TCP stream does not break it', async () => {
    const [a, , c] = pods as [Pod, Pod, Pod];
    const server = execa('ip', ['netns', 'exec', c.netns, 'iperf3', '-s', '-1', '-p', '5202'], { reject: false });
    await new Promise((r) => setTimeout(r, 500));
    const client = cluster.exec(a, 'iperf3', ['-c', c.ip, '-p', '5202', '-t', '8', '-b', '20M', '-J'], { reject: false });
    await new Promise((r) => setTimeout(r, 1500));
    for (const node of [a.node, c.node]) {
      await node.stopAgent('SIGKILL');
      await node.startAgent();
    }
    const r = await client;
    await server;
    const res = JSON.parse(r.stdout) as { end: { sum_received: { bytes: number } }; intervals: Array<{ sum: { bytes: number } }>; error?: string };
    assert.equal(res.error, undefined, 'the stream completed');
    const stalled = res.intervals.filter((i) => i.sum.bytes === 0).length;
    assert.equal(stalled, 0, `no one-second interval without data: ${res.intervals.map((i) => i.sum.bytes).join(',')}`);
  });
});
