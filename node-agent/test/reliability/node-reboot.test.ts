// Node reboot simulation: the agent stops (crash), OVS restarts (all OpenFlow flows lost), and the
// sandboxes of some pods disappear with their veths, as after a reboot. On start-up the agent must
// rebuild from the IPAM file and OVSDB, remove the attachments whose veth is gone (port, IP, flows)
// and keep the others working with the same IPs; a later GC with the surviving pods changes nothing.
import assert from 'node:assert/strict';
import { createPodNetns, type AgentNode } from '../support/agent-node.js';
import { cleanupLeftovers, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { cniInProcess, confText, ipOf, podEnv, sleep } from './lib/cni-calls.js';
import { assertClean, nodeState } from './lib/node-state.js';
import { startAgentPatiently, startNode } from './lib/nodes.js';
import { recordFigure } from './lib/record.js';

describe('reliability: node reboot simulation (state restored from disk, vanished pods collected)', function () {
  this.timeout(300000);
  let node: AgentNode;
  const pods = Array.from({ length: 5 }, (_, i) => ({ netns: `loomt-rel-rb-${i}`, containerId: `rb-${i}`, ip: '' }));
  const extra = 'loomt-rel-rb-new';

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    node = await startNode({ name: 'loomt-rel-rb', podCidr: '10.244.36.0/24' });
    for (const p of pods) {
      const netns = await createPodNetns(p.netns);
      const a = await cniInProcess(podEnv('ADD', p.containerId, netns, p.containerId), confText(node));
      assert.equal(a.exitCode, 0, a.stdout);
      p.ip = ipOf(a);
    }
  });
  after(async () => {
    for (const p of pods) await deleteNetns(p.netns);
    await deleteNetns(extra);
    await node?.destroy();
  });

  it('removes attachments whose sandbox vanished and keeps the others with the same IPs', async () => {
    const [gone1, gone2, ...kept] = pods;
    const before = await nodeState(node);
    await node.stopAgent('SIGKILL');
    // The "reboot": OVS daemons restart (flows are lost; OVSDB keeps its file), two sandboxes are gone.
    await node.ovs.restartOvsdbServer();
    await node.ovs.restartVswitchd();
    await deleteNetns(gone1!.netns);
    await deleteNetns(gone2!.netns);
    const t0 = performance.now();
    await startAgentPatiently(node);
    const readyMs = performance.now() - t0;
    const valid = kept.map((p) => ({ containerId: p.containerId, ifname: 'eth0' }));
    // No GC yet: start-up reconciliation alone must have removed the vanished pods.
    const after = await assertClean(node, valid);
    for (const p of kept) {
      const owner = [...after.allocations].find(([, o]) => o.containerId === p.containerId);
      assert.equal(owner?.[0], p.ip, `${p.containerId} keeps ${p.ip}`);
    }
    assert.equal(after.allocations.size, before.allocations.size - 2);
    // The surviving pods work again (flows were replayed into the restarted vswitchd).
    let restoredMs = -1;
    const t1 = performance.now();
    for (let i = 0; i < 40; i++) {
      const p = await nsExec(kept[0]!.netns, 'ping', ['-c', '1', '-W', '1', kept[1]!.ip], { reject: false });
      if (p.exitCode === 0) {
        restoredMs = performance.now() - t1;
        break;
      }
      await sleep(250);
    }
    assert.ok(restoredMs >= 0, 'surviving pods reach each other after the reboot');
    for (const p of kept) {
      const check = await cniInProcess({ ...podEnv('CHECK', p.containerId, `/var/run/netns/${p.netns}`, p.containerId) }, confText(node));
      assert.equal(check.exitCode, 0, `CHECK ${p.containerId}: ${check.stdout}`);
    }
    // GC with the Pods the runtime still has changes nothing.
    const gc = await cniInProcess({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, confText(node, { 'cni.dev/valid-attachments': valid.map((v) => ({ containerID: v.containerId, ifname: v.ifname })) }));
    assert.equal(gc.exitCode, 0, gc.stdout);
    await assertClean(node, valid);
    // The freed addresses are usable by new pods.
    const netns = await createPodNetns(extra);
    const a = await cniInProcess(podEnv('ADD', 'rb-new', netns, 'rb-new'), confText(node));
    assert.equal(a.exitCode, 0, a.stdout);
    assert.ok(!kept.some((p) => p.ip === ipOf(a)), 'a new pod never gets a surviving pod\'s IP');
    await assertClean(node, [...valid, { containerId: 'rb-new', ifname: 'eth0' }]);
    recordFigure({ scenario: 'node-reboot', name: 'agent start to ready after reboot', value: readyMs, unit: 'ms' });
    recordFigure({ scenario: 'node-reboot', name: 'pod-to-pod restored after ready', value: restoredMs, unit: 'ms' });
    recordFigure({ scenario: 'node-reboot', name: 'vanished pods left behind', value: 0, unit: 'count', target: { max: 0 } });
  });
});
