// Pod bandwidth annotations end to end (e2e harness: API server, 2 nodes with OVS + loom-agent, pods
// created like kubelet + containerd do): same-node and cross-node iperf3 TCP at 10M and 100M in each
// direction, annotation changes on a running pod, invalid annotations, nothing left after deletion.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { checkAgainstLimit, iperfTcp } from '../../../bench/bandwidth/iperf.js';
import { LOOM_CNI } from '../support/agent-node.js';
import { createNetns, requireRoot } from '../support/netns.js';
import { startCluster, type Cluster } from '../../../e2e/lib/cluster.js';
import type { ClusterNode } from '../../../e2e/lib/cluster-node.js';
import type { Pod } from '../../../e2e/lib/pods.js';

const INGRESS = 'kubernetes.io/ingress-bandwidth';
const EGRESS = 'kubernetes.io/egress-bandwidth';

/** Asserts the path runs within +-10% of the limit (up to 3 runs: see checkAgainstLimit). */
async function within(run: () => Promise<number>, limit: number, what: string): Promise<void> {
  const r = await checkAgainstLimit(run, limit);
  const shown = r.ratios.map((x) => x.toFixed(3)).join(', ');
  console.log(`      ${what}: limit ${limit / 1e6}M, achieved/limit ${shown}`);
  assert.ok(r.ok, `${what}: achieved/limit ${shown} for a ${limit / 1e6} Mbit/s limit, expected within +-10%`);
}

/** Receiver-side rate into `to` (limited pod receives) or out of `from`. */
const rate = async (from: Pod, to: Pod) => (await iperfTcp({ serverNs: to.netns, serverIp: to.ip, clientNs: from.netns })).bitsPerSecond;

async function until(what: string, cond: () => Promise<boolean>, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

const qosConfig = async (node: ClusterNode) => (await node.vsctl(['--columns=other_config', '--bare', 'list', 'QoS'])).trim();
const qosCount = async (node: ClusterNode) => (await node.vsctl(['--columns=_uuid', '--bare', 'list', 'QoS'])).split('\n').filter(Boolean).length;
const queueCount = async (node: ClusterNode) => (await node.vsctl(['--columns=_uuid', '--bare', 'list', 'Queue'])).split('\n').filter(Boolean).length;

describe('qos e2e: bandwidth annotations on a 2-node cluster', function () {
  this.timeout(600000);
  let cluster: Cluster;
  let srv1: Pod, free1: Pod, lim: Pod, srv2: Pod, big: Pod;
  /** Unlimited rates measured in this run, same node and cross node (the datapath's capacity right now). */
  const capacity = { sameNode: 0, crossNode: 0 };
  /**
   * A limit can only be measured when the path carries clearly more than it: the userspace datapath on
   * a loaded 2-core VM sometimes gives ~100M cross node. Skips (saying so) rather than blaming the limiter.
   */
  const requireCapacity = (ctx: Mocha.Context, path: 'sameNode' | 'crossNode', limit: number) => {
    if (capacity[path] < 1.25 * limit) {
      console.log(`      SKIPPED: the unlimited ${path} path gave only ${(capacity[path] / 1e6).toFixed(1)}M in this run, too little to measure a ${limit / 1e6}M limit`);
      ctx.skip();
    }
  };
  const podQdisc = async (p: Pod) => (await cluster.exec(p, 'tc', ['qdisc', 'show', 'dev', 'eth0'])).stdout;

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: 2 });
    srv1 = await cluster.createPod({ namespace: 'bw', name: 'srv1', node: 1 });
    free1 = await cluster.createPod({ namespace: 'bw', name: 'free1', node: 1 });
    lim = await cluster.createPod({ namespace: 'bw', name: 'lim', node: 1, annotations: { [INGRESS]: '10M', [EGRESS]: '10M' } });
    srv2 = await cluster.createPod({ namespace: 'bw', name: 'srv2', node: 2 });
    big = await cluster.createPod({ namespace: 'bw', name: 'big', node: 2, annotations: { [INGRESS]: '100M', [EGRESS]: '100M' } });
  });
  after(async () => {
    await cluster?.teardown();
  });

  it('the limited pods have their QoS row and TBF; the others none', async () => {
    assert.equal(await qosCount(cluster.node(1)), 1);
    assert.equal(await qosCount(cluster.node(2)), 1);
    assert.match(await qosConfig(cluster.node(1)), /max-rate="?10000000/);
    assert.match(await podQdisc(lim), /tbf .*rate 10Mbit/);
    assert.match(await podQdisc(big), /tbf .*rate 100Mbit/);
    assert.doesNotMatch(await podQdisc(srv1), /tbf/);
  });

  it('10M same node: into and out of the pod at the limit', async () => {
    await within(() => rate(srv1, lim), 10e6, 'same node, ingress lim');
    await within(() => rate(lim, srv1), 10e6, 'same node, egress lim');
  });

  it('10M cross node: into and out of the pod at the limit', async () => {
    await within(() => rate(srv2, lim), 10e6, 'cross node, ingress lim');
    await within(() => rate(lim, srv2), 10e6, 'cross node, egress lim');
  });

  it('unlimited pods are unaffected (no QoS of their own, well above the 10M limit)', async () => {
    for (const p of [srv1, free1, srv2]) assert.doesNotMatch(await podQdisc(p), /tbf/, `no TBF in ${p.name}`);
    capacity.sameNode = await rate(srv1, free1);
    capacity.crossNode = await rate(srv1, srv2);
    console.log(`      unlimited: same node ${(capacity.sameNode / 1e6).toFixed(1)}M, cross node ${(capacity.crossNode / 1e6).toFixed(1)}M`);
    assert.ok(capacity.sameNode > 30e6, `unlimited same-node pair got ${(capacity.sameNode / 1e6).toFixed(1)} Mbit/s`);
    assert.ok(capacity.crossNode > 30e6, `unlimited cross-node pair got ${(capacity.crossNode / 1e6).toFixed(1)} Mbit/s`);
  });

  it('100M same node: into and out of the pod at the limit', async function () {
    requireCapacity(this, 'sameNode', 100e6);
    await within(() => rate(srv2, big), 100e6, 'same node, ingress big');
    await within(() => rate(big, srv2), 100e6, 'same node, egress big');
  });

  it('100M cross node: into and out of the pod at the limit', async function () {
    requireCapacity(this, 'crossNode', 100e6);
    await within(() => rate(srv1, big), 100e6, 'cross node, ingress big');
    await within(() => rate(big, srv1), 100e6, 'cross node, egress big');
  });

  it('changing the annotation on the running pod changes the limit; removing one removes it', async () => {
    await cluster.api.mergePatch('pods', 'bw', 'lim', { metadata: { annotations: { [INGRESS]: '20M', [EGRESS]: null } } });
    await until('QoS max-rate 20M on node 1', async () => /max-rate="?20000000/.test(await qosConfig(cluster.node(1))));
    await until('no TBF in lim', async () => !/tbf/.test(await podQdisc(lim)));
    await within(() => rate(srv1, lim), 20e6, 'same node, ingress lim after the change');
  });

  it('an invalid change is logged with the pod name and the previous limit stays', async () => {
    await cluster.api.mergePatch('pods', 'bw', 'lim', { metadata: { annotations: { [INGRESS]: 'fast' } } });
    const node = cluster.node(1);
    await until('the agent to log the invalid annotation', async () => {
      const log = await readFile(node.agentLog, 'utf8');
      return log.split('\n').some((l) => l.includes('invalid bandwidth annotation') && l.includes('bw/lim') && l.includes('\\"fast\\"'));
    });
    assert.match(await qosConfig(node), /max-rate="?20000000/);
    await cluster.api.mergePatch('pods', 'bw', 'lim', { metadata: { annotations: { [INGRESS]: null } } });
    await until('no QoS row on node 1', async () => (await qosCount(node)) === 0 && (await queueCount(node)) === 0);
  });

  it('an invalid annotation on the Pod object fails ADD with code 103 naming it', async () => {
    const node = cluster.node(1);
    const portsBefore = (await node.podPorts()).length;
    await cluster.api.create('pods', 'bw', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bad', namespace: 'bw', annotations: { [EGRESS]: '10 M' } },
      spec: { nodeName: node.name, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
    });
    const netns = `${cluster.prefix}p-bad`;
    await createNetns(netns);
    // The runtime's call without runtimeConfig: the agent reads the annotation from the Pod object.
    const conf = { cniVersion: '1.1.0', name: 'loom', type: 'loom-cni', socketPath: node.cniSocket };
    const env = {
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'b'.repeat(64), CNI_NETNS: `/var/run/netns/${netns}`, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=bw;K8S_POD_NAME=bad',
    };
    const r = await execa('ip', ['netns', 'exec', node.netns, LOOM_CNI], { env, extendEnv: false, input: JSON.stringify(conf), reject: false });
    assert.notEqual(r.exitCode, 0);
    const out = JSON.parse(r.stdout) as { code: number; msg: string };
    assert.equal(out.code, 103, r.stdout);
    assert.match(out.msg, /kubernetes\.io\/egress-bandwidth="10 M" is invalid/);
    assert.equal((await node.podPorts()).length, portsBefore, 'the failed ADD left no port');
    assert.equal(await qosCount(node), 0);
  });

  it('deleting the pods leaves no QoS row or queue on any node', async () => {
    for (const p of [srv1, free1, lim, srv2, big]) await cluster.deletePod(p);
    for (const n of [cluster.node(1), cluster.node(2)]) {
      assert.equal(await qosCount(n), 0, `QoS rows on ${n.name}`);
      assert.equal(await queueCount(n), 0, `Queue rows on ${n.name}`);
      assert.equal((await n.vsctl(['--columns=qos', '--bare', 'list', 'Port'])).trim(), '');
    }
  });
});
