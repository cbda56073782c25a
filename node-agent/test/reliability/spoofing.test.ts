// Spoofing on one node: pod A (attacker) tries to reach pod B (victim) with a forged source IP, a
// changed IP, a changed MAC, and ARP replies claiming pod C's IP. B must see none of it (tcpdump in B),
// the spoofguard drop counter must rise, and B's neighbour entry for C must never point at A.
// Every case has a control that shows the same capture does see A's legitimate traffic.
import assert from 'node:assert/strict';
import { createPodNetns, type AgentNode } from '../support/agent-node.js';
import { cleanupLeftovers, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { cniInProcess, confText, ipOf, podEnv } from './lib/cni-calls.js';
import { arpFrame, capture, icmpEchoFrame, sendFrames } from './lib/frames.js';
import { startNode } from './lib/nodes.js';
import { recordFigure } from './lib/record.js';

const GW = '10.244.37.1';
const SPOOFGUARD_TABLE = 10;

interface Pod {
  netns: string;
  containerId: string;
  ip: string;
  mac: string;
}

async function macOf(netns: string): Promise<string> {
  const r = await nsExec(netns, 'cat', ['/sys/class/net/eth0/address']);
  return r.stdout.trim();
}

describe('reliability: spoofing from a pod gets nothing through (single node)', function () {
  this.timeout(300000);
  let node: AgentNode;
  const pods: Record<'a' | 'b' | 'c', Pod> = {
    a: { netns: 'loomt-rel-sp-a', containerId: 'sp-a', ip: '', mac: '' },
    b: { netns: 'loomt-rel-sp-b', containerId: 'sp-b', ip: '', mac: '' },
    c: { netns: 'loomt-rel-sp-c', containerId: 'sp-c', ip: '', mac: '' },
  };
  const blocked: Record<string, number> = {};

  const spoofguardDrops = async (): Promise<number> => {
    const r = await nsExec(node.netns, 'ovs-ofctl', ['dump-flows', node.ovs.mgmt('br-int'), `table=${SPOOFGUARD_TABLE}`]);
    // The table-miss drop flow of the spoofguard (priority 0).
    const line = r.stdout.split('\n').find((l) => /priority=0\b/.test(l) || (!/priority=/.test(l) && /actions=drop/.test(l)));
    return Number(/n_packets=(\d+)/.exec(line ?? '')?.[1] ?? 0);
  };

  /** What B receives from A while `attack` runs, with a control showing legit A->B traffic is seen. */
  const victimSees = async (filter: string[], attack: () => Promise<void>): Promise<string[]> => capture(pods.b.netns, 'eth0', filter, attack);

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    node = await startNode({ name: 'loomt-rel-sp', podCidr: '10.244.37.0/24' });
    for (const p of Object.values(pods)) {
      const netns = await createPodNetns(p.netns);
      const a = await cniInProcess(podEnv('ADD', p.containerId, netns, p.containerId), confText(node));
      assert.equal(a.exitCode, 0, a.stdout);
      p.ip = ipOf(a);
      p.mac = await macOf(p.netns);
    }
    // Warm the neighbour caches so that B has a real entry for C.
    await nsExec(pods.b.netns, 'ping', ['-c', '1', '-W', '2', pods.c.ip], { reject: false });
  });
  after(async () => {
    for (const p of Object.values(pods)) await deleteNetns(p.netns);
    await node?.destroy();
  });

  it('control: B sees A\'s legitimate ping and A\'s legitimate raw ICMP frame', async () => {
    const lines = await victimSees(['icmp', 'and', 'src', 'host', pods.a.ip], async () => {
      await nsExec(pods.a.netns, 'ping', ['-c', '2', '-W', '2', pods.b.ip]);
      await sendFrames(pods.a.netns, 'eth0', [icmpEchoFrame({ ethSrc: pods.a.mac, ethDst: pods.b.mac, src: pods.a.ip, dst: pods.b.ip, id: 0x1111, seq: 1 })]);
    });
    assert.ok(lines.some((l) => l.includes('ICMP echo request')), `B sees A's pings: ${lines.join('\n')}`);
    assert.ok(lines.some((l) => /id 4369\b/.test(l)), `B sees A's hand-built frame (id 0x1111): ${lines.join('\n')}`);
  });

  it('a forged source IP (raw frame and kernel-chosen source) gets nothing through', async () => {
    const drops0 = await spoofguardDrops();
    const lines = await victimSees(['icmp', 'and', 'src', 'host', pods.c.ip], async () => {
      await sendFrames(pods.a.netns, 'eth0', [icmpEchoFrame({ ethSrc: pods.a.mac, ethDst: pods.b.mac, src: pods.c.ip, dst: pods.b.ip, id: 0x2222, seq: 1 })], 5);
      await nsExec(pods.a.netns, 'ip', ['addr', 'add', `${pods.c.ip}/32`, 'dev', 'eth0']);
      try {
        await nsExec(pods.a.netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-I', pods.c.ip, pods.b.ip], { reject: false });
      } finally {
        await nsExec(pods.a.netns, 'ip', ['addr', 'del', `${pods.c.ip}/32`, 'dev', 'eth0'], { reject: false });
      }
    });
    assert.deepEqual(lines, [], 'B must see no packet with C\'s address from A');
    const dropped = (await spoofguardDrops()) - drops0;
    assert.ok(dropped >= 5, `the spoofguard dropped the forged packets (${dropped})`);
    blocked['forged source IP'] = dropped;
  });

  it('a pod that changes its IP gets nothing through, and works again once it is restored', async () => {
    const fake = '10.244.37.200';
    const drops0 = await spoofguardDrops();
    const lines = await victimSees(['src', 'host', fake], async () => {
      await nsExec(pods.a.netns, 'ip', ['addr', 'flush', 'dev', 'eth0']);
      await nsExec(pods.a.netns, 'ip', ['addr', 'add', `${fake}/24`, 'dev', 'eth0']);
      await nsExec(pods.a.netns, 'ip', ['route', 'replace', 'default', 'via', GW]);
      await nsExec(pods.a.netns, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
      await nsExec(pods.a.netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', pods.b.ip], { reject: false });
    });
    await nsExec(pods.a.netns, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    await nsExec(pods.a.netns, 'ip', ['addr', 'add', `${pods.a.ip}/24`, 'dev', 'eth0']);
    await nsExec(pods.a.netns, 'ip', ['route', 'replace', 'default', 'via', GW]);
    assert.deepEqual(lines, [], 'B must see nothing from the changed IP');
    const dropped = (await spoofguardDrops()) - drops0;
    assert.ok(dropped > 0, 'the spoofguard dropped them');
    blocked['changed IP'] = dropped;
    const again = await nsExec(pods.a.netns, 'ping', ['-c', '1', '-W', '2', pods.b.ip], { reject: false });
    assert.equal(again.exitCode, 0, 'with its own IP back, A reaches B');
  });

  it('a pod that changes its MAC gets nothing through, and works again once it is restored', async () => {
    const fakeMac = '0a:58:de:ad:be:ef';
    const drops0 = await spoofguardDrops();
    const lines = await victimSees(['ether', 'src', fakeMac], async () => {
      await nsExec(pods.a.netns, 'ip', ['link', 'set', 'dev', 'eth0', 'address', fakeMac]);
      await nsExec(pods.a.netns, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
      await nsExec(pods.a.netns, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', pods.b.ip], { reject: false });
      await sendFrames(pods.a.netns, 'eth0', [icmpEchoFrame({ ethSrc: fakeMac, ethDst: pods.b.mac, src: pods.a.ip, dst: pods.b.ip, id: 0x3333, seq: 1 })]);
    });
    await nsExec(pods.a.netns, 'ip', ['link', 'set', 'dev', 'eth0', 'address', pods.a.mac]);
    await nsExec(pods.a.netns, 'ip', ['route', 'replace', 'default', 'via', GW]);
    assert.deepEqual(lines, [], 'B must see nothing from the changed MAC');
    const dropped = (await spoofguardDrops()) - drops0;
    assert.ok(dropped > 0, 'the spoofguard dropped them');
    blocked['changed MAC'] = dropped;
    const again = await nsExec(pods.a.netns, 'ping', ['-c', '1', '-W', '2', pods.b.ip], { reject: false });
    assert.equal(again.exitCode, 0, 'with its own MAC back, A reaches B');
  });

  it('ARP replies and gratuitous ARP claiming another pod\'s IP get nothing through', async () => {
    const drops0 = await spoofguardDrops();
    const bcast = 'ff:ff:ff:ff:ff:ff';
    const lines = await victimSees(['arp'], async () => {
      await sendFrames(pods.a.netns, 'eth0', [
        // unicast reply to B: "C's IP is at A's MAC"
        arpFrame({ op: 2, ethSrc: pods.a.mac, ethDst: pods.b.mac, sha: pods.a.mac, spa: pods.c.ip, tha: pods.b.mac, tpa: pods.b.ip }),
        // gratuitous reply and request, broadcast
        arpFrame({ op: 2, ethSrc: pods.a.mac, ethDst: bcast, sha: pods.a.mac, spa: pods.c.ip, tha: bcast, tpa: pods.c.ip }),
        arpFrame({ op: 1, ethSrc: pods.a.mac, ethDst: bcast, sha: pods.a.mac, spa: pods.c.ip, tha: '00:00:00:00:00:00', tpa: pods.c.ip }),
        // the gateway's IP, too
        arpFrame({ op: 2, ethSrc: pods.a.mac, ethDst: pods.b.mac, sha: pods.a.mac, spa: GW, tha: pods.b.mac, tpa: pods.b.ip }),
      ], 5);
    });
    const fromA = lines.filter((l) => l.toLowerCase().includes(pods.a.mac));
    assert.deepEqual(fromA, [], 'B must receive no ARP from A');
    const neigh = await nsExec(pods.b.netns, 'ip', ['neigh', 'show', pods.c.ip]);
    assert.ok(!neigh.stdout.toLowerCase().includes(pods.a.mac), `B's neighbour entry for C must not point at A: ${neigh.stdout}`);
    const gwNeigh = await nsExec(pods.b.netns, 'ip', ['neigh', 'show', GW]);
    assert.ok(!gwNeigh.stdout.toLowerCase().includes(pods.a.mac), `B's neighbour entry for the gateway must not point at A: ${gwNeigh.stdout}`);
    const dropped = (await spoofguardDrops()) - drops0;
    assert.ok(dropped >= 20, `the spoofguard dropped the forged ARP (${dropped})`);
    blocked['forged ARP'] = dropped;
    // B still reaches C with C's real MAC.
    const ping = await nsExec(pods.b.netns, 'ping', ['-c', '1', '-W', '2', pods.c.ip], { reject: false });
    assert.equal(ping.exitCode, 0);
  });

  after(() => {
    for (const [k, v] of Object.entries(blocked)) {
      recordFigure({ scenario: 'spoofing', name: `${k}: packets received by the victim`, value: 0, unit: 'count', target: { max: 0 }, note: `${v} dropped by the spoofguard` });
    }
  });
});
