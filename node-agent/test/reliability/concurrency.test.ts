// Concurrency on one node: 100 ADDs at once, then 100 DELs at once (all succeed, distinct IPs, no port
// lost, nothing left), and IP exhaustion in a small pod CIDR (a clear error that recovers).
import assert from 'node:assert/strict';
import { createPodNetns, type AgentNode } from '../support/agent-node.js';
import { startNode } from './lib/nodes.js';
import { cleanupLeftovers, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { cniInProcess, confText, ipOf, percentile, podEnv, pool, SOAK } from './lib/cni-calls.js';
import { assertClean, nodeState } from './lib/node-state.js';
import { recordFigure } from './lib/record.js';

const PODS = SOAK ? 200 : 100;

describe('reliability: concurrent ADD/DEL and IP exhaustion on one node', function () {
  this.timeout(600000);
  const netnsNames: string[] = [];
  const nodes: AgentNode[] = [];

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
  });
  after(async () => {
    await pool(netnsNames, 8, (n) => deleteNetns(n));
    for (const n of nodes) await n.destroy();
  });

  it(`${PODS} concurrent ADDs then ${PODS} concurrent DELs: all succeed, distinct IPs, every port, nothing left`, async () => {
    const node = await startNode({ name: 'loomt-rel-cc', podCidr: '10.244.33.0/24' });
    nodes.push(node);
    const pods = Array.from({ length: PODS }, (_, i) => ({ name: `loomt-rel-cc-${i}`, containerId: `cc-${i}`, ip: '' }));
    await pool(pods, 8, async (p) => {
      netnsNames.push(p.name);
      await createPodNetns(p.name);
    });
    const t0 = performance.now();
    const adds = await Promise.all(pods.map((p) => cniInProcess(podEnv('ADD', p.containerId, `/var/run/netns/${p.name}`, `cc-${p.containerId}`), confText(node))));
    const addSeconds = (performance.now() - t0) / 1000;
    const failed = adds.map((a, i) => ({ a, i })).filter(({ a }) => a.exitCode !== 0).map(({ a, i }) => `${pods[i]!.containerId}: ${a.stdout}`);
    assert.deepEqual(failed, [], 'every concurrent ADD succeeds');
    adds.forEach((a, i) => { pods[i]!.ip = ipOf(a); });
    const ips = pods.map((p) => p.ip);
    assert.equal(new Set(ips).size, PODS, 'distinct IPs');
    const state = await assertClean(node, pods.map((p) => ({ containerId: p.containerId, ifname: 'eth0' })));
    assert.equal(state.loomPorts.length, PODS, 'one OVS port per pod');
    // Every pod has its own address inside its namespace (spot check a spread of them).
    for (const i of [0, Math.floor(PODS / 2), PODS - 1]) {
      const r = await nsExec(pods[i]!.name, 'ip', ['-o', '-4', 'addr', 'show', 'eth0']);
      assert.match(r.stdout, new RegExp(`inet ${pods[i]!.ip.replace(/\./g, '\\.')}/`));
    }
    const ping = await nsExec(pods[0]!.name, 'ping', ['-c', '1', '-W', '3', pods[PODS - 1]!.ip], { reject: false });
    assert.equal(ping.exitCode, 0, 'first and last pod reach each other');

    const t1 = performance.now();
    const dels = await Promise.all(pods.map((p) => cniInProcess(podEnv('DEL', p.containerId, `/var/run/netns/${p.name}`, `cc-${p.containerId}`), confText(node))));
    const delSeconds = (performance.now() - t1) / 1000;
    assert.deepEqual(dels.filter((d) => d.exitCode !== 0).map((d) => d.stdout), [], 'every concurrent DEL succeeds');
    await assertClean(node, []);
    recordFigure({ scenario: 'concurrency', name: `${PODS} concurrent ADDs: wall time`, value: addSeconds, unit: 's' });
    recordFigure({ scenario: 'concurrency', name: `${PODS} concurrent ADDs: p99 answer`, value: percentile(adds.map((a) => a.ms), 99), unit: 'ms' });
    recordFigure({ scenario: 'concurrency', name: `${PODS} concurrent DELs: wall time`, value: delSeconds, unit: 's' });
    recordFigure({ scenario: 'concurrency', name: 'concurrent ADD/DEL failures', value: failed.length, unit: 'count', target: { max: 0 } });
  });

  it('IP exhaustion in a /28 answers code 100 naming the CIDR, and recovers when an IP is freed', async () => {
    const cidr = '10.244.34.0/28';
    const node = await startNode({ name: 'loomt-rel-ex', podCidr: cidr });
    nodes.push(node);
    const live: Array<{ containerId: string; netns: string; ip: string }> = [];
    let exhausted: { code: number; msg: string } | undefined;
    for (let i = 0; i < 20 && !exhausted; i++) {
      const name = `loomt-rel-ex-${i}`;
      netnsNames.push(name);
      const netns = await createPodNetns(name);
      const a = await cniInProcess(podEnv('ADD', `ex-${i}`, netns, `ex-${i}`), confText(node));
      if (a.exitCode === 0) live.push({ containerId: `ex-${i}`, netns, ip: ipOf(a) });
      else exhausted = a.json as { code: number; msg: string };
    }
    assert.ok(exhausted, 'the /28 runs out of addresses');
    assert.equal(exhausted.code, 100, JSON.stringify(exhausted));
    assert.ok(exhausted.msg.includes(cidr), `the message names the pod CIDR: ${exhausted.msg}`);
    assert.ok(live.length >= 10 && live.length <= 14, `a /28 holds ${live.length} pods`);
    // The failed ADD left nothing behind; the live pods are complete.
    await assertClean(node, live.map((l) => ({ containerId: l.containerId, ifname: 'eth0' })));
    // Free one address: the next ADD gets exactly that one.
    const freed = live.shift()!;
    const del = await cniInProcess(podEnv('DEL', freed.containerId, freed.netns, freed.containerId), confText(node));
    assert.equal(del.exitCode, 0, del.stdout);
    const retryNetns = netnsNames[netnsNames.length - 1]!;
    const again = await cniInProcess(podEnv('ADD', 'ex-retry', `/var/run/netns/${retryNetns}`, 'ex-retry'), confText(node));
    assert.equal(again.exitCode, 0, `ADD succeeds once an IP is free: ${again.stdout}`);
    assert.equal(ipOf(again), freed.ip, 'the freed IP is reused');
    live.push({ containerId: 'ex-retry', netns: `/var/run/netns/${retryNetns}`, ip: freed.ip });
    const st = await nodeState(node);
    assert.equal(st.allocations.size, live.length);
    recordFigure({ scenario: 'concurrency', name: 'pods that fit a /28 before code 100', value: live.length, unit: 'count' });
  });
});
