// NetworkPolicy cannot be bypassed with IP fragments or spoofed source addresses (2-node cluster from
// the e2e harness). Victim v (node 2) accepts ingress only from pod y on TCP 80. Attacker x (node 1)
// tries: a forged source (y's IP) to v:80, fragmented ICMP, bare non-first fragments, and a first
// fragment to port 80 whose continuation goes elsewhere. v must see none of it (tcpdump in v), while
// the controls (y's real SYN to v:80; x's fragmented ping once the policy is gone) do arrive.
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../../../e2e/lib/cluster.js';
import type { Pod } from '../../../e2e/lib/pods.js';
import { eventually } from '../../../e2e/lib/wait.js';
import { nsExec, requireRoot } from '../support/netns.js';
import { capture, checksum, icmpEchoFrame, ipBytes, macBytes, sendFrames } from './lib/frames.js';
import { recordFigure } from './lib/record.js';

const SERVE = [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' as const }];

/** An IPv4 frame with an arbitrary payload, protocol and fragment field (flags+offset). */
function ipFrame(o: { ethSrc: string; ethDst: string; src: string; dst: string; proto: number; id: number; frag: number; payload: Buffer }): Buffer {
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0);
  ip.writeUInt16BE(20 + o.payload.length, 2);
  ip.writeUInt16BE(o.id, 4);
  ip.writeUInt16BE(o.frag, 6);
  ip.writeUInt8(64, 8);
  ip.writeUInt8(o.proto, 9);
  ipBytes(o.src).copy(ip, 12);
  ipBytes(o.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([macBytes(o.ethDst), macBytes(o.ethSrc), Buffer.from([0x08, 0x00]), ip, o.payload]);
}

/** A TCP SYN segment (checksum over the pseudo header). */
function tcpSyn(src: string, dst: string, sport: number, dport: number): Buffer {
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(sport, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp.writeUInt32BE(0x01020304, 4);
  tcp.writeUInt8(0x50, 12);
  tcp.writeUInt8(0x02, 13);
  tcp.writeUInt16BE(64240, 14);
  const pseudo = Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([0, 6, 0, 20])]);
  tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp])), 16);
  return tcp;
}

describe('reliability: NetworkPolicy cannot be bypassed with fragments or spoofed sources (2 nodes)', function () {
  this.timeout(600000);
  let cluster: Cluster;
  let x: Pod;
  let y: Pod;
  let v: Pod;
  let xMac = '';
  let gwMacX = '';
  let yMac = '';
  let gwMacY = '';
  const results: Record<string, number> = {};

  const macOf = async (pod: Pod): Promise<string> => (await nsExec(pod.netns, 'cat', ['/sys/class/net/eth0/address'])).stdout.trim();
  const gatewayMac = async (pod: Pod): Promise<string> => {
    const gw = (await nsExec(pod.netns, 'ip', ['-4', 'route', 'show', 'default'])).stdout.split(' ')[2]!;
    await nsExec(pod.netns, 'ping', ['-c', '1', '-W', '2', gw], { reject: false });
    const neigh = (await nsExec(pod.netns, 'ip', ['neigh', 'show', gw])).stdout;
    const m = /lladdr ([0-9a-f:]{17})/.exec(neigh);
    if (!m) throw new Error(`no neighbour entry for the gateway ${gw} in ${pod.netns}: ${neigh}`);
    return m[1]!;
  };
  const policy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'v-only-from-y-80', namespace: 'pb' },
    spec: { podSelector: { matchLabels: { pod: 'v' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'y' } } }], ports: [{ protocol: 'TCP', port: 80 }] }] },
  };

  before(async function () {
    requireRoot(this);
    cluster = await startCluster({ nodes: 2, prefix: `loomt-e2e-pb${process.pid % 1000}-` });
    [x, y, v] = await Promise.all([
      cluster.createPod({ namespace: 'pb', name: 'x', node: 1, labels: { pod: 'x' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'pb', name: 'y', node: 1, labels: { pod: 'y' }, containerPorts: SERVE }),
      cluster.createPod({ namespace: 'pb', name: 'v', node: 2, labels: { pod: 'v' }, containerPorts: SERVE }),
    ]);
    xMac = await macOf(x);
    yMac = await macOf(y);
    gwMacX = await gatewayMac(x);
    gwMacY = await gatewayMac(y);
    await cluster.api.create('networkpolicies', 'pb', policy as never);
    await eventually('x is blocked from v:80', async () => {
      const [r] = await cluster.probe(x, [{ ip: v.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 });
      return r!.ok === false;
    }, { timeoutMs: 20000 });
    const [allowed] = await cluster.probe(y, [{ ip: v.ip, port: 80, protocol: 'TCP' }]);
    assert.ok(allowed!.ok, 'y reaches v:80 (the policy allows it)');
  });
  after(async () => {
    await cluster?.teardown();
  });

  it('control: y\'s own hand-built SYN to v:80 arrives at v', async () => {
    const lines = await capture(v.netns, 'eth0', ['tcp', 'and', 'src', 'host', y.ip], async () => {
      await sendFrames(y.netns, 'eth0', [ipFrame({ ethSrc: yMac, ethDst: gwMacY, src: y.ip, dst: v.ip, proto: 6, id: 0x4001, frag: 0x4000, payload: tcpSyn(y.ip, v.ip, 40001, 80) })], 3);
    }, 1500);
    assert.ok(lines.length > 0, 'v sees y\'s SYN: the frames and the capture work');
  });

  it('x forging y\'s source address gets nothing to v', async () => {
    const lines = await capture(v.netns, 'eth0', ['src', 'host', y.ip], async () => {
      await sendFrames(x.netns, 'eth0', [
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: y.ip, dst: v.ip, proto: 6, id: 0x4002, frag: 0x4000, payload: tcpSyn(y.ip, v.ip, 40002, 80) }),
        icmpEchoFrame({ ethSrc: xMac, ethDst: gwMacX, src: y.ip, dst: v.ip, id: 0x4003, seq: 1 }),
      ], 5);
    }, 1500);
    results['forged source (y) from x'] = lines.length;
    assert.deepEqual(lines, [], 'v must see nothing from the forged address');
  });

  it('fragmented and bare-fragment traffic from x gets nothing to v', async () => {
    const fragFilter = ['src', 'host', x.ip];
    const lines = await capture(v.netns, 'eth0', fragFilter, async () => {
      // The kernel fragments a 4000-byte ping (pod MTU 1450).
      await nsExec(x.netns, 'ping', ['-c', '3', '-i', '0.3', '-W', '1', '-s', '4000', v.ip], { reject: false });
      const tcp80 = tcpSyn(x.ip, v.ip, 40004, 80);
      await sendFrames(x.netns, 'eth0', [
        // Bare non-first fragments (no L4 header): offset 8 and 64, proto TCP and UDP.
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: x.ip, dst: v.ip, proto: 6, id: 0x4005, frag: 8, payload: Buffer.alloc(64, 1) }),
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: x.ip, dst: v.ip, proto: 17, id: 0x4006, frag: 64, payload: Buffer.alloc(64, 2) }),
        // A first fragment of a SYN to port 80 (MF set), then a whole datagram with the same IP id to
        // port 81 (a reassembler that mixes them up must still not let anything through).
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: x.ip, dst: v.ip, proto: 6, id: 0x4007, frag: 0x2000, payload: tcp80.subarray(0, 16) }),
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: x.ip, dst: v.ip, proto: 6, id: 0x4007, frag: 0, payload: tcpSyn(x.ip, v.ip, 40004, 81) }),
        // A tiny first fragment (8 bytes: ports only, no flags) to port 80, then the rest.
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: x.ip, dst: v.ip, proto: 6, id: 0x4008, frag: 0x2000, payload: tcp80.subarray(0, 8) }),
        ipFrame({ ethSrc: xMac, ethDst: gwMacX, src: x.ip, dst: v.ip, proto: 6, id: 0x4008, frag: 1, payload: tcp80.subarray(8) }),
      ], 3);
    }, 2000);
    results['fragments from x'] = lines.length;
    assert.deepEqual(lines, [], `v must see nothing from x: ${lines.join('\n')}`);
  });

  it('control: without the policy, x\'s fragmented ping does reach v', async () => {
    await cluster.api.delete('networkpolicies', 'pb', 'v-only-from-y-80');
    await eventually('x reaches v again', async () => (await cluster.probe(x, [{ ip: v.ip, port: 80, protocol: 'TCP' }], { timeoutMs: 500, retries: 0 }))[0]!.ok, { timeoutMs: 20000 });
    const ping = await nsExec(x.netns, 'ping', ['-c', '2', '-W', '2', '-s', '4000', v.ip], { reject: false });
    assert.equal(ping.exitCode, 0, `fragmented ping passes when allowed: ${ping.stdout}`);
  });

  after(() => {
    for (const [k, n] of Object.entries(results)) recordFigure({ scenario: 'policy-bypass', name: `${k}: packets received by the victim`, value: n, unit: 'count', target: { max: 0 } });
  });
});
