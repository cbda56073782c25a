// Reliability on the multi-node harness (issue 8): agent restarts under load, ovs-vswitchd restart
// with policies in place, and an API server outage (and a watch that ends with 410 Gone).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { requireRoot } from '../../node-agent/test/support/netns.js';
import { startCluster, type Cluster } from '../lib/cluster.js';
import type { ClusterNode } from '../lib/cluster-node.js';
import { eventually } from '../lib/wait.js';
import type { Pod } from '../lib/pods.js';

const SERVE = [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' as const }];

/** A loop inside a pod: TCP connects to ip:port every intervalMs for durationMs; prints JSON timestamps. */
function connectLoop(pod: Pod, ip: string, port: number, durationMs: number, intervalMs: number): ResultPromise {
  const script = `
const net=require('net');const ok=[],fail=[];const end=Date.now()+${durationMs};
function once(){const t=Date.now();const s=net.createConnection({host:'${ip}',port:${port}});let done=false;
const fin=(g)=>{if(done)return;done=true;(g?ok:fail).push(t);s.destroy();};
s.setTimeout(${Math.max(intervalMs * 4, 150)},()=>fin(false));s.on('connect',()=>fin(true));s.on('error',()=>fin(false));}
const iv=setInterval(()=>{if(Date.now()>end){clearInterval(iv);setTimeout(()=>{console.log(JSON.stringify({ok,fail}));process.exit(0)},400);return;}once();},${intervalMs});`;
  return execa('ip', ['netns', 'exec', pod.netns, process.execPath, '-e', script], { reject: false });
}

async function loopResult(p: ResultPromise): Promise<{ ok: number[]; fail: number[] }> {
  const r = await p;
  return JSON.parse(String(r.stdout)) as { ok: number[]; fail: number[] };
}

async function flowCount(node: ClusterNode): Promise<number> {
  const r = await node.exec('ovs-ofctl', ['-O', 'OpenFlow15', 'dump-flows', '--no-stats', node.ovs.mgmt('br-int')]);
  return r.stdout.split('\n').filter((l) => l.includes('cookie=') || l.includes('table=')).length;
}

/**
 * Packets dropped because an AF_PACKET socket's receive queue was full, summed over the node's
 * sockets: the userspace datapath reads every non-internal port (pod veths, the uplink) through one.
 */
async function packetSocketDrops(node: ClusterNode): Promise<number> {
  const r = await node.exec('ss', ['-0', '-a', '-m', '-n']);
  return [...r.stdout.matchAll(/skmem:\([^)]*\bd(\d+)\)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Host-side pod veths of the node that are not administratively up (their pod can reach nothing). */
async function podVethsDown(node: ClusterNode): Promise<string[]> {
  const down: string[] = [];
  for (const port of await node.podPorts()) {
    const r = await node.exec('ip', ['-j', 'link', 'show', 'dev', port.name]);
    const flags = (JSON.parse(r.stdout || '[]') as Array<{ flags?: string[] }>)[0]?.flags ?? [];
    if (!flags.includes('UP')) down.push(`${node.name}/${port.name} (${flags.join(',')})`);
  }
  return down;
}

async function ipam(node: ClusterNode): Promise<unknown> {
  return JSON.parse(await readFile(join(node.dir, 'state', 'ipam.json'), 'utf8')).allocations;
}

const denyFromOthers = (name: string, target: string, allowFrom: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'r' },
  spec: { podSelector: { matchLabels: { pod: target } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { pod: allowFrom } } }] }] },
});

describe('e2e resilience: restarts, OVS restart, API outage', function () {
  this.timeout(600000);
  let cluster: Cluster;
  let a: Pod;
  let b: Pod;
  let c: Pod;

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: 2 });
    [a, b, c] = await Promise.all([
      cluster.createPod({ namespace: 'r', name: 'a', node: 1, labels: { pod: 'a' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'r', name: 'b', node: 2, labels: { pod: 'b' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'r', name: 'c', node: 2, labels: { pod: 'c' }, containerPorts: SERVE }),
    ]);
  });
  after(async () => {
    await cluster?.teardown();
  });

  it('10 agent restarts under 100 pings/s and a TCP stream across nodes: no ping lost, no stall, nothing changed', async () => {
    const nodes = [cluster.node(1), cluster.node(2)];
    const flowsBefore = await Promise.all(nodes.map(flowCount));
    const ipamBefore = await Promise.all(nodes.map(ipam));
    const dropsBefore = await Promise.all(nodes.map(packetSocketDrops));
    // Not a restart effect: a pod whose host veth is down loses every packet (see docs/reliability.md, Open).
    assert.deepEqual((await Promise.all(nodes.map(podVethsDown))).flat(), [], 'every pod\'s host veth is up before the restarts');
    // The very first ping crosses to a node OVS has not sent to yet: it is answered only because the
    // agent keeps the tunnel next hop resolved (overlay.ts, tunnelNeighbourDevice).
    const pinger = execa('ip', ['netns', 'exec', a.netns, 'ping', '-D', '-i', '0.01', '-W', '1', b.ip], { reject: false });
    const server = execa('ip', ['netns', 'exec', b.netns, 'iperf3', '-s', '-1', '-p', '5301'], { reject: false });
    await new Promise((r) => setTimeout(r, 500));
    // 10 Mbit/s paced by the kernel (--fq-rate: SO_MAX_PACING_RATE). Unpaced, iperf3 writes 128 KiB
    // blocks that leave as ~94-frame line-rate bursts, one frame more than the receive queue of the
    // AF_PACKET socket through which the userspace datapath reads a port (212,992 bytes = 93 frames):
    // every burst that arrives while ovs-vswitchd is not running (any CPU load on these 2 cores, an
    // agent start or anything else) loses its tail and the pings inside it. That measures the
    // datapath's queue against CPU contention, with or without restarts (docs/reliability.md).
    const stream = execa('ip', ['netns', 'exec', a.netns, 'iperf3', '-c', b.ip, '-p', '5301', '-t', '600', '-b', '10M', '--fq-rate', '10M', '-i', '1', '-J'], { reject: false });
    await new Promise((r) => setTimeout(r, 1000));
    const restarts: string[] = [];
    for (let i = 0; i < 10; i++) {
      const node = nodes[i % 2]!;
      restarts.push(`${node.name.slice(-2)}@${(Date.now() / 1000).toFixed(3)}`);
      await node.stopAgent('SIGKILL');
      await node.startAgent();
    }
    await new Promise((r) => setTimeout(r, 1000));
    stream.kill('SIGINT');
    pinger.kill('SIGINT');
    const [p, s] = await Promise.all([pinger, stream]);
    server.kill();
    await server;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(String(p.stdout));
    assert.ok(m, String(p.stdout));
    const transmitted = Number(m[1]);
    assert.ok(transmitted > 300, `enough pings sent (${transmitted})`);
    // Echo replies only: "From ... Destination Host Unreachable" lines carry an icmp_seq too.
    const replies = new Map([...String(p.stdout).matchAll(/\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/g)].map((x) => [Number(x[2]), Number(x[1])] as const));
    const lastAnswered = Math.max(0, ...replies.keys());
    // SIGINT ends ping at once: the pings of its last round trip are unanswered, not lost.
    assert.ok(transmitted - lastAnswered <= 10, `pings answered until the end: last answered ${lastAnswered} of ${transmitted}`);
    const lost = Array.from({ length: lastAnswered }, (_, i) => i + 1).filter((seq) => !replies.has(seq));
    const lostAt = lost.map((seq) => `${seq}${replies.has(seq - 1) ? ` after ${replies.get(seq - 1)!.toFixed(3)}` : ''}`);
    const dropsAfter = await Promise.all(nodes.map(packetSocketDrops));
    const socketDrops = dropsAfter.map((d, i) => d - dropsBefore[i]!);
    console.log(`      [figure] agent restarts under load: ${lost.length} of ${lastAnswered} pings lost over 10 restarts; AF_PACKET queue drops per node: ${socketDrops.join(', ')}`);
    // Target (issue 8): zero, the first ping included.
    assert.deepEqual(lostAt, [], `no ping lost; AF_PACKET queue drops per node ${socketDrops.join(', ')}; restarts at ${restarts.join(', ')}`);
    const res = JSON.parse(String(s.stdout)) as { intervals: Array<{ sum: { bytes: number } }> };
    const intervals = res.intervals.map((x) => x.sum.bytes);
    assert.ok(intervals.length >= 5, 'the stream ran during the restarts');
    assert.deepEqual(intervals.slice(0, -1).filter((x) => x === 0), [], `every second carried data: ${intervals.join(',')}`);
    assert.deepEqual(await Promise.all(nodes.map(ipam)), ipamBefore, 'no IP changed or duplicated');
    assert.deepEqual(await Promise.all(nodes.map(flowCount)), flowsBefore, 'no flow missing or left over');
  });

  it('ovs-vswitchd restart: all flows replayed within 2 s, policy-blocked traffic never passes', async () => {
    await cluster.api.create('networkpolicies', 'r', denyFromOthers('only-b-to-c', 'c', 'b') as never);
    await eventually('a blocked from c', async () => {
      const [r] = await cluster.probe(a, [{ ip: c.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 });
      return r!.ok === false;
    }, { timeoutMs: 10000 });
    const n2 = cluster.node(2);
    const allowed = connectLoop(a, b.ip, 80, 9000, 25);
    const denied = connectLoop(a, c.ip, 80, 9000, 50);
    await new Promise((r) => setTimeout(r, 2000));
    await n2.ovs.restartVswitchd();
    const restartedAt = Date.now();
    const [ok, blocked] = await Promise.all([loopResult(allowed), loopResult(denied)]);
    assert.deepEqual(blocked.ok, [], 'a never reached c, not even while flows were replayed');
    const firstAfter = ok.ok.find((t) => t >= restartedAt);
    assert.ok(firstAfter !== undefined, 'a reaches b again');
    assert.ok(firstAfter - restartedAt <= 2000, `traffic restored ${firstAfter - restartedAt} ms after ovs-vswitchd came back`);
    await cluster.api.delete('networkpolicies', 'r', 'only-b-to-c');
  });

  it('API outage of 30 s: the datapath keeps working; changes made meanwhile apply once the API is back', async () => {
    await cluster.api.fault('pause-hang');
    try {
      await new Promise((r) => setTimeout(r, 15000));
      const [mid] = await cluster.probe(a, [{ ip: b.ip, port: 80, protocol: 'TCP' }]);
      assert.ok(mid!.ok, 'pods keep talking while the API is unreachable');
      // The side door still writes: a change the agents cannot see yet.
      await cluster.api.create('networkpolicies', 'r', denyFromOthers('only-c-to-b', 'b', 'c') as never);
      await new Promise((r) => setTimeout(r, 15000));
      const [still] = await cluster.probe(a, [{ ip: b.ip, port: 80, protocol: 'TCP' }]);
      assert.ok(still!.ok, 'the unseen policy is not applied during the outage');
    } finally {
      await cluster.api.fault('resume');
    }
    await eventually('the policy made during the outage is enforced', async () => {
      const [r] = await cluster.probe(a, [{ ip: b.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 });
      return r!.ok === false;
    }, { timeoutMs: 20000 });
    await cluster.api.delete('networkpolicies', 'r', 'only-c-to-b');
    await eventually('access restored', async () => (await cluster.probe(a, [{ ip: b.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 }))[0]!.ok, { timeoutMs: 20000 });
  });

  it('a watch that ends with 410 Gone relists and applies what it missed', async () => {
    await cluster.api.fault('pause-refuse');
    await cluster.api.create('networkpolicies', 'r', denyFromOthers('after-410', 'b', 'c') as never);
    await cluster.api.fault('compact-history');
    await cluster.api.fault('resume');
    await eventually('the policy created before the 410 is enforced', async () => {
      const [r] = await cluster.probe(a, [{ ip: b.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 });
      return r!.ok === false;
    }, { timeoutMs: 20000 });
    await cluster.api.delete('networkpolicies', 'r', 'after-410');
    await eventually('access restored', async () => (await cluster.probe(a, [{ ip: b.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 }))[0]!.ok, { timeoutMs: 20000 });
  });
});
