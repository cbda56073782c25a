// The kubelet path end to end: a real containerd (CRI plugin) runs pod sandboxes on a simulated
// node and calls the real loom-cni, which talks to the node's loom-agent (real OVS, netdev datapath).
// Our CRI client plays kubelet: RunPodSandbox x2, status, ping between the sandboxes, Stop + Remove,
// then checks that nothing is left on the node (OVS ports, IPAM, host veths, netns).
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupLeftovers, nsExec, requireRoot } from '../../node-agent/test/support/netns.js';
import { LOOM_CNI, startAgentNode, type AgentNode } from '../../node-agent/test/support/agent-node.js';
import { cleanupContainerdLeftovers, containerdUnavailableReason, DEBIAN_CNI_DIR, startContainerd, type PrivateContainerd } from '../cri/containerd.js';
import { sandboxConfig, type PodSandboxStatusResponse } from '../cri/cri-client.js';
import { buildPauseImage, PAUSE_IMAGE_REF } from '../cri/pause-image.js';
import { loomConflist } from '../cri/conflists.js';

const NODE = 'loomt-cri-n1';
const POD_CIDR = '10.244.7.0/24';

function inCidr(ip: string, cidr: string): boolean {
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / size) === Math.floor(toInt(base) / size);
}

/** containerd 1.6 puts the sandbox's runtime spec (with the netns path) into the verbose info. */
function sandboxNetnsPath(status: PodSandboxStatusResponse): string {
  const info = JSON.parse(status.info.info ?? '{}') as { pid?: number; runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } } };
  const path = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  if (path) return path;
  if (info.pid) return `/proc/${info.pid}/ns/net`;
  throw new Error(`no network namespace in the verbose PodSandboxStatus info: ${status.info.info}`);
}

async function ovsLoomPorts(node: AgentNode): Promise<string[]> {
  const r = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, '--format=csv', '--no-headings', '--columns=name,external_ids', 'list', 'Interface']);
  return r.stdout.split('\n').filter((l) => l.includes('loom-container-id'));
}
async function ipamAllocations(node: AgentNode): Promise<Record<string, unknown>> {
  return (JSON.parse(await readFile(join(node.dir, 'state', 'ipam.json'), 'utf8')) as { allocations: Record<string, unknown> }).allocations;
}
async function hostVeths(node: AgentNode): Promise<string[]> {
  const r = await nsExec(node.netns, 'ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter((n) => n.startsWith('lm'));
}
const pingFrom = (netnsPath: string, ip: string) => execa('nsenter', [`--net=${netnsPath}`, '--', 'ping', '-c', '1', '-W', '2', ip], { reject: false, timeout: 10000 });

describe('containerd CRI path: RunPodSandbox/StopPodSandbox/RemovePodSandbox through loom-cni', function () {
  this.timeout(180000);
  let node: AgentNode | undefined;
  let containerd: PrivateContainerd | undefined;
  let imageDir: string | undefined;

  before(async function () {
    requireRoot(this);
    const missing = containerdUnavailableReason();
    if (missing) {
      console.warn(`skipping the containerd CRI test: ${missing}`);
      this.skip();
    }
    await cleanupContainerdLeftovers();
    await cleanupLeftovers('loomt-cri-');
    imageDir = await mkdtemp(join(tmpdir(), 'loomt-criimg-'));
    const image = await buildPauseImage(join(imageDir, 'pause.tar'));
    node = await startAgentNode({ name: NODE, podCidr: POD_CIDR });
    containerd = await startContainerd({
      netns: node.netns,
      sandboxImage: PAUSE_IMAGE_REF,
      conflist: loomConflist(node.socket),
      cniBinaries: { 'loom-cni': LOOM_CNI, loopback: join(DEBIAN_CNI_DIR, 'loopback'), portmap: join(DEBIAN_CNI_DIR, 'portmap') },
    });
    await containerd.importImage(image.archive, image.ref);
  });

  after(async () => {
    await containerd?.stop();
    await node?.destroy();
    if (imageDir) await rm(imageDir, { recursive: true, force: true });
  });

  it('speaks CRI v1 to containerd (field numbers round-trip through the verbose status)', async () => {
    const v = await containerd!.cri.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
  });

  it('runs two sandboxes on the loom network, they reach each other, and Stop+Remove leave nothing behind', async () => {
    const cri = containerd!.cri;
    const pods = [
      { name: 'cri-a', uid: '6f1f4e5c-0000-4000-8000-00000000000a' },
      { name: 'cri-b', uid: '6f1f4e5c-0000-4000-8000-00000000000b' },
    ];
    const sandboxes: Array<{ id: string; ip: string; netns: string }> = [];
    for (const p of pods) {
      const id = await cri.runPodSandbox(sandboxConfig(p.name, 'default', p.uid, { annotations: { 'loom.test/case': 'cri' } }));
      const st = await cri.podSandboxStatus(id, true);
      const netns = sandboxNetnsPath(st);
      await containerd!.recordSandboxNetns(netns);
      const s = st.status!;
      assert.equal(s.state, 'SANDBOX_READY');
      // What we sent comes back: proves the hand-written proto's field numbers match containerd's.
      assert.deepEqual({ name: s.metadata?.name, ns: s.metadata?.namespace, uid: s.metadata?.uid }, { name: p.name, ns: 'default', uid: p.uid });
      assert.equal(s.annotations['loom.test/case'], 'cri');
      assert.equal(s.labels['io.kubernetes.pod.name'], p.name);
      assert.equal(s.linux?.namespaces?.options?.network, 'POD');
      const ip = s.network?.ip ?? '';
      assert.ok(inCidr(ip, POD_CIDR), `sandbox ${p.name} got IP ${JSON.stringify(ip)}, expected one in ${POD_CIDR}`);
      sandboxes.push({ id, ip, netns });
    }
    const [a, b] = sandboxes as [(typeof sandboxes)[0], (typeof sandboxes)[0]];
    assert.notEqual(a.ip, b.ip);
    const listed = await cri.listPodSandbox();
    assert.deepEqual(listed.map((s) => s.id).sort(), [a.id, b.id].sort());

    // The agent saw the Kubernetes identity containerd passed in CNI_ARGS.
    const ports = await ovsLoomPorts(node!);
    assert.equal(ports.length, 2, `expected 2 loom OVS ports, got:\n${ports.join('\n')}`);
    assert.ok(ports.some((l) => l.includes('cri-a') && l.includes(a.id)), `port of cri-a carries its pod name and sandbox id:\n${ports.join('\n')}`);
    assert.equal(Object.keys(await ipamAllocations(node!)).length, 2);

    const ab = await pingFrom(a.netns, b.ip);
    assert.equal(ab.exitCode, 0, `sandbox a -> b (${b.ip}): ${ab.stdout}${ab.stderr}`);
    const ba = await pingFrom(b.netns, a.ip);
    assert.equal(ba.exitCode, 0, `sandbox b -> a (${a.ip}): ${ba.stdout}${ba.stderr}`);

    for (const s of sandboxes) {
      await cri.stopPodSandbox(s.id);
      await cri.removePodSandbox(s.id);
    }
    assert.deepEqual(await cri.listPodSandbox(), []);
    assert.deepEqual(await ovsLoomPorts(node!), [], 'no OVS port with loom external_ids is left');
    assert.deepEqual(await ipamAllocations(node!), {}, 'no IPAM allocation is left');
    assert.deepEqual(await hostVeths(node!), [], 'no host veth lm* is left in the node netns');
    for (const s of sandboxes) {
      if (s.netns.startsWith('/var/run/netns/')) assert.equal(existsSync(s.netns), false, `sandbox netns ${s.netns} is removed`);
    }
  });
});
