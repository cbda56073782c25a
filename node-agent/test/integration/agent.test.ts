// loom-agent + loom-cni on one simulated node with a real OVS (userspace datapath): the pod
// lifecycle exactly as a container runtime drives it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cleanupLeftovers, deleteNetns, nsExec, requireRoot } from '../support/netns.js';
import { createPodNetns, startAgentNode, type AgentNode } from '../support/agent-node.js';

const POD_CIDR = '10.244.1.0/24';
const GW = '10.244.1.1';

async function ipamAllocations(node: AgentNode): Promise<Record<string, { containerId: string }>> {
  return JSON.parse(await readFile(join(node.dir, 'state', 'ipam.json'), 'utf8')).allocations;
}
async function ovsPorts(node: AgentNode): Promise<string[]> {
  const r = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, 'list-ports', 'br-int']);
  return r.stdout.split('\n').filter(Boolean);
}
async function flowCount(node: AgentNode): Promise<number> {
  const r = await nsExec(node.netns, 'ovs-ofctl', ['dump-flows', '--no-stats', node.ovs.mgmt('br-int')]);
  return r.stdout.split('\n').filter((l) => l.includes('cookie=')).length;
}
async function hostLinks(node: AgentNode): Promise<string[]> {
  const r = await nsExec(node.netns, 'ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter(Boolean);
}
const ping = (ns: string, ip: string, count = 1) => nsExec(ns, 'ping', ['-c', String(count), '-W', '2', ip], { reject: false });
const k8sArgs = (name: string) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${name}-infra;K8S_POD_UID=uid-${name}`;

describe('loom-agent + loom-cni on one node (real OVS, netdev datapath)', function () {
  this.timeout(120000);
  let node: AgentNode;
  const pods: string[] = [];
  const pod = async (name: string) => {
    const ns = `loomt-ag-${name}`;
    pods.push(ns);
    return createPodNetns(ns);
  };
  const add = async (name: string, extra: Record<string, unknown> = {}) => {
    const netns = await pod(name);
    const r = await node.cni({ command: 'ADD', containerId: `cid-${name}`, netns, ifname: 'eth0', args: k8sArgs(name), config: node.netConf(extra) });
    assert.equal(r.exitCode, 0, `ADD ${name}: ${r.stdout}`);
    const ip = ((r.json!.ips as Array<{ address: string }>)[0]!.address).split('/')[0]!;
    return { netns, ip, result: r.json! };
  };

  before(async function () {
    requireRoot(this);
    await cleanupLeftovers();
    node = await startAgentNode({ name: 'loomt-ag-n1', podCidr: POD_CIDR });
  });
  after(async () => {
    for (const p of pods) await deleteNetns(p);
    await node?.destroy();
  });

  it('ADD gives a pod that reaches the gateway and another pod on the node', async () => {
    const a = await add('a');
    const b = await add('b');
    assert.notEqual(a.ip, b.ip);
    assert.deepEqual((a.result.routes as unknown[])[0], { dst: '0.0.0.0/0', gw: GW });
    assert.equal((await ping('loomt-ag-a', GW)).exitCode, 0, 'pod a pings the gateway');
    assert.equal((await ping('loomt-ag-a', b.ip)).exitCode, 0, 'pod a pings pod b');
    assert.equal((await ping('loomt-ag-b', a.ip)).exitCode, 0, 'pod b pings pod a');
    // The node reaches the pod through loom-gw0 (kubelet probes).
    assert.equal((await ping(node.netns, a.ip)).exitCode, 0, 'node pings pod a');
    // TCP works too (tx checksum offload is off inside the pod on the netdev datapath).
    const server = nsExec('loomt-ag-b', 'nc', ['-l', '-p', '8080', '-q', '1'], { reject: false, timeout: 10000 });
    await new Promise((r) => setTimeout(r, 200));
    const client = await execa('ip', ['netns', 'exec', 'loomt-ag-a', 'nc', '-q', '1', '-w', '3', b.ip, '8080'], { input: 'hello-loom\n', reject: false });
    const got = await server;
    assert.equal(client.exitCode, 0, client.stderr);
    assert.match(got.stdout, /hello-loom/);
    const link = await nsExec('loomt-ag-a', 'ip', ['-o', 'link', 'show', 'eth0']);
    assert.match(link.stdout, /mtu 1450/);
  });

  it('answers in the format of the requested cniVersion', async () => {
    const r = await add('v031', { cniVersion: '0.3.1' });
    assert.equal(r.result.cniVersion, '0.3.1');
    assert.equal((r.result.ips as Array<{ version?: string }>)[0]!.version, '4');
    const r2 = await add('v040', { cniVersion: '0.4.0' });
    assert.equal((r2.result.ips as Array<{ version?: string }>)[0]!.version, undefined);
  });

  it('CHECK passes for a healthy pod and names a deleted veth', async () => {
    const c = await add('chk');
    const ok = await node.cni({ command: 'CHECK', containerId: 'cid-chk', netns: c.netns, ifname: 'eth0', args: k8sArgs('chk') });
    assert.equal(ok.exitCode, 0, ok.stdout);
    const hostVeth = ((c.result.interfaces as Array<{ name: string }>)[0]!).name;
    await nsExec(node.netns, 'ip', ['link', 'del', hostVeth]);
    const bad = await node.cni({ command: 'CHECK', containerId: 'cid-chk', netns: c.netns, ifname: 'eth0', args: k8sArgs('chk') });
    assert.equal(bad.exitCode, 1);
    assert.equal(bad.json!.code, 104);
    assert.match(String(bad.json!.msg), new RegExp(hostVeth));
    const unknown = await node.cni({ command: 'CHECK', containerId: 'cid-nope', netns: c.netns, ifname: 'eth0' });
    assert.equal(unknown.json!.code, 3);
    const del = await node.cni({ command: 'DEL', containerId: 'cid-chk', netns: c.netns, ifname: 'eth0' });
    assert.equal(del.exitCode, 0, 'DEL succeeds although the veth is already gone');
  });

  it('DEL removes port, veth, flows and IP; repeated and netns-less DELs succeed', async () => {
    const flowsBefore = await flowCount(node);
    const d = await add('del');
    const hostVeth = ((d.result.interfaces as Array<{ name: string }>)[0]!).name;
    assert.ok((await ovsPorts(node)).includes(hostVeth));
    assert.ok((await flowCount(node)) > flowsBefore);
    const del1 = await node.cni({ command: 'DEL', containerId: 'cid-del', netns: d.netns, ifname: 'eth0', args: k8sArgs('del') });
    assert.equal(del1.exitCode, 0, del1.stdout);
    // containerd's second DEL: empty netns, no prevResult.
    const del2 = await node.cni({ command: 'DEL', containerId: 'cid-del', netns: '', ifname: 'eth0', args: k8sArgs('del') });
    assert.equal(del2.exitCode, 0, del2.stdout);
    assert.ok(!(await ovsPorts(node)).includes(hostVeth), 'port removed');
    assert.ok(!(await hostLinks(node)).includes(hostVeth), 'veth removed');
    assert.equal(await flowCount(node), flowsBefore, 'flows removed');
    const allocs = await ipamAllocations(node);
    assert.ok(!Object.values(allocs).some((o) => o.containerId === 'cid-del'), 'IP released');
    const inPod = await nsExec('loomt-ag-del', 'ip', ['-o', 'link', 'show', 'eth0'], { reject: false });
    assert.notEqual(inPod.exitCode, 0, 'eth0 gone from the pod');
  });

  it('pod ports get the OpenFlow port they request; when another port holds it, the flows follow the port OVS gave', async () => {
    const ofportOf = async (port: string) => Number((await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, 'get', 'Interface', port, 'ofport'])).stdout.trim());
    const portOfPod = async (podNs: string) => {
      const ports = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, '--columns=name,external_ids', '--format=json', 'list', 'Interface']);
      const rows = (JSON.parse(ports.stdout) as { data: Array<[string, [string, Array<[string, string]>]]> }).data;
      return rows.find(([, [, ids]]) => ids.some(([k, v]) => k === 'loom-netns' && v.endsWith(podNs)))![0];
    };
    const first = await add('ofp1');
    const granted = await ofportOf(await portOfPod('loomt-ag-ofp1'));
    assert.ok(granted >= 3, `pod ports start above the tunnel (1) and gateway (2): got ${granted}`);
    // A port the agent does not know takes the next free number behind its back (internal ports
    // need no device); the next pod asks for that number, gets another, and must still work.
    const used = new Set<number>();
    for (const p of await ovsPorts(node)) used.add(await ofportOf(p));
    let squat = 3;
    while (used.has(squat)) squat++;
    await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, 'add-port', 'br-int', 'lmsquat0', '--', 'set', 'Interface', 'lmsquat0', 'type=internal', `ofport_request=${squat}`]);
    try {
      const second = await add('ofp2');
      const secondPort = await ofportOf(await portOfPod('loomt-ag-ofp2'));
      assert.notEqual(secondPort, squat, 'OVS gave the pod another number');
      const warned = (await readFile(node.logFile, 'utf8')).split('\n').filter((l) => l.includes('did not grant the requested OpenFlow port'));
      assert.equal(warned.length, 1, 'the agent asked for the taken number and noticed');
      assert.equal(JSON.parse(warned[0]!).requested, squat);
      assert.equal(await ofportOf('lmsquat0'), squat, 'the other port kept its number');
      assert.equal((await ping('loomt-ag-ofp2', GW)).exitCode, 0, 'the pod reaches the gateway through its real port');
      assert.equal((await ping('loomt-ag-ofp2', first.ip)).exitCode, 0, 'and the other pod');
      const flows = await nsExec(node.netns, 'ovs-ofctl', ['dump-flows', '--no-stats', node.ovs.mgmt('br-int'), `in_port=${squat}`]);
      assert.equal(flows.stdout.split('\n').filter((l) => l.includes('cookie=')).length, 0, `no pod flow left on the number it did not get: ${flows.stdout}`);
      assert.equal(second.ip === first.ip, false);
    } finally {
      await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, '--if-exists', 'del-port', 'br-int', 'lmsquat0']);
    }
  });

  it('a failing ADD rolls everything back', async () => {
    const portsBefore = await ovsPorts(node);
    const allocsBefore = Object.keys(await ipamAllocations(node)).length;
    const r = await node.cni({ command: 'ADD', containerId: 'cid-ghost', netns: '/var/run/netns/loomt-does-not-exist', ifname: 'eth0' });
    assert.equal(r.exitCode, 1);
    assert.match(String(r.json!.msg), /does not exist/);
    assert.deepEqual(await ovsPorts(node), portsBefore);
    assert.equal(Object.keys(await ipamAllocations(node)).length, allocsBefore);
    // ADD on a pod whose eth0 already exists fails and leaves the existing pod alone.
    const netns = await pod('dup');
    await nsExec('loomt-ag-dup', 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const dup = await node.cni({ command: 'ADD', containerId: 'cid-dup', netns, ifname: 'eth0' });
    assert.equal(dup.exitCode, 1);
    assert.match(String(dup.json!.msg), /exist/);
    assert.deepEqual(await ovsPorts(node), portsBefore);
    assert.equal(Object.keys(await ipamAllocations(node)).length, allocsBefore);
  });

  it('GC reclaims attachments not in cni.dev/valid-attachments', async () => {
    const g = await add('gc');
    const hostVeth = ((g.result.interfaces as Array<{ name: string }>)[0]!).name;
    const valid = Object.values(await ipamAllocations(node))
      .map((o) => o as unknown as { containerId: string; ifname: string })
      .filter((o) => o.containerId !== 'cid-gc')
      .map((o) => ({ containerID: o.containerId, ifname: o.ifname }));
    const r = await node.cni({ command: 'GC', config: node.netConf({ 'cni.dev/valid-attachments': valid }) });
    assert.equal(r.exitCode, 0, r.stdout);
    assert.ok(!(await ovsPorts(node)).includes(hostVeth));
    assert.ok(!Object.values(await ipamAllocations(node)).some((o) => o.containerId === 'cid-gc'));
    // pods in the valid list are untouched
    assert.equal(Object.keys(await ipamAllocations(node)).length, valid.length);
  });

  it('parallel ADDs get distinct IPs and every port', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `par${i}`);
    const results = await Promise.all(names.map((n) => add(n)));
    const ips = results.map((r) => r.ip);
    assert.equal(new Set(ips).size, ips.length);
    const ports = await ovsPorts(node);
    for (const r of results) {
      const hostVeth = ((r.result.interfaces as Array<{ name: string }>)[0]!).name;
      assert.ok(ports.includes(hostVeth));
      // The port is attached while the pod end is configured; the host end must stay up (OVS
      // rewrites the link flags when it attaches a port).
      const link = await nsExec(node.netns, 'ip', ['-o', 'link', 'show', hostVeth]);
      assert.match(link.stdout, /<[^>]*\bUP\b[^>]*>/, `host veth ${hostVeth} is up: ${link.stdout}`);
    }
    const dels = await Promise.all(names.map((n) => node.cni({ command: 'DEL', containerId: `cid-${n}`, netns: `/var/run/netns/loomt-ag-${n}`, ifname: 'eth0' })));
    for (const d of dels) assert.equal(d.exitCode, 0, d.stdout);
  });

  it('agent restart (crash) keeps pods reachable and restores the same state', async () => {
    const a = await add('r1');
    const b = await add('r2');
    const flowsBefore = await flowCount(node);
    const portsBefore = await ovsPorts(node);
    const allocsBefore = await ipamAllocations(node);
    const pinger = nsExec('loomt-ag-r1', 'ping', ['-i', '0.02', '-c', '150', '-W', '1', b.ip], { reject: false, timeout: 30000 });
    await new Promise((r) => setTimeout(r, 300));
    await node.stopAgent('SIGKILL');
    await node.startAgent();
    const out = await pinger;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out.stdout);
    assert.ok(m, out.stdout);
    assert.equal(m[1], m[2], `no ping lost across the restart: ${m[0]}`);
    assert.equal(await flowCount(node), flowsBefore);
    assert.deepEqual(await ovsPorts(node), portsBefore);
    assert.deepEqual(await ipamAllocations(node), allocsBefore);
    assert.equal((await ping('loomt-ag-r2', a.ip)).exitCode, 0);
    const check = await node.cni({ command: 'CHECK', containerId: 'cid-r1', netns: a.netns, ifname: 'eth0' });
    assert.equal(check.exitCode, 0, check.stdout);
  });

  it('replays every flow after ovs-vswitchd restarts (flows are lost, ports survive)', async () => {
    const a = await add('o1');
    const b = await add('o2');
    const before = await flowCount(node);
    await node.ovs.restartVswitchd();
    let after = 0;
    for (let i = 0; i < 100 && after !== before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await flowCount(node).catch(() => 0);
    }
    assert.equal(after, before, 'every flow is back');
    assert.equal((await ping('loomt-ag-o1', b.ip, 2)).exitCode, 0, 'pod to pod after the restart');
    assert.equal((await ping(node.netns, a.ip, 2)).exitCode, 0, 'node to pod: loom-gw0 got its address back');
  });

  it('answers code 11 while the agent is down', async () => {
    await node.stopAgent('SIGTERM');
    try {
      const r = await node.cni({ command: 'ADD', containerId: 'cid-down', netns: '/var/run/netns/loomt-ag-a', ifname: 'eth1' });
      assert.equal(r.exitCode, 1);
      assert.equal(r.json!.code, 11);
      const s = await node.cni({ command: 'STATUS' });
      assert.equal(s.json!.code, 50);
    } finally {
      await node.startAgent();
    }
  });
});
