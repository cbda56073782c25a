// The kubelet path end to end: a real containerd (CRI plugin) runs pod sandboxes on a simulated
// node and calls the real loom-cni, which talks to the node's loom-agent (real OVS, netdev datapath).
// Our CRI client plays kubelet: RunPodSandbox x2, status, ping between the sandboxes, Stop + Remove,
// then checks that nothing is left on the node (OVS ports, IPAM, host veths, netns).
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
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

/** containerd 1.6's verbose sandbox info: the request config as containerd decoded it, and the runtime spec. */
interface ContainerdSandboxInfo {
  pid?: number;
  image?: string;
  config?: {
    metadata?: { name?: string; uid?: string; namespace?: string };
    hostname?: string;
    dns_config?: { servers?: string[]; searches?: string[] };
    port_mappings?: Array<{ protocol?: number; container_port?: number; host_port?: number }>;
    annotations?: Record<string, string>;
    linux?: { security_context?: { namespace_options?: { network?: number; pid?: number; ipc?: number } } };
  };
  runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } };
}

function sandboxInfo(status: PodSandboxStatusResponse): ContainerdSandboxInfo {
  const text = status.info.info;
  if (!text) throw new Error('verbose PodSandboxStatus has no "info" entry (containerd 1.6 always sends one)');
  return JSON.parse(text) as ContainerdSandboxInfo;
}

/** The sandbox netns path from the runtime spec, else the pause process's /proc/PID/ns/net. */
function sandboxNetnsPath(status: PodSandboxStatusResponse): string {
  const info = sandboxInfo(status);
  const path = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  if (path) return path;
  if (info.pid) return `/proc/${info.pid}/ns/net`;
  throw new Error(`no network namespace in the verbose PodSandboxStatus info: ${status.info.info}`);
}

/** OVS interfaces carrying Loom's external_ids, as name -> external_ids. */
async function ovsLoomPorts(node: AgentNode): Promise<Record<string, Record<string, string>>> {
  const r = await nsExec(node.netns, 'ovs-vsctl', [`--db=${node.ovs.dbSock}`, '--format=json', '--columns=name,external_ids', 'list', 'Interface']);
  const table = JSON.parse(r.stdout) as { data: Array<[string, ['map', Array<[string, string]>]]> };
  const ports: Record<string, Record<string, string>> = {};
  for (const [name, [, pairs]] of table.data) {
    const ids = Object.fromEntries(pairs);
    if (ids['loom-container-id'] !== undefined) ports[name] = ids;
  }
  return ports;
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

  before(async function () {
    requireRoot(this);
    const missing = containerdUnavailableReason();
    if (missing) {
      console.warn(`skipping the containerd CRI test: ${missing}`);
      this.skip();
    }
    await cleanupContainerdLeftovers();
    await cleanupLeftovers('loomt-cri-');
    node = await startAgentNode({ name: NODE, podCidr: POD_CIDR });
    containerd = await startContainerd({
      netns: node.netns,
      sandboxImage: PAUSE_IMAGE_REF,
      conflist: loomConflist(node.socket),
      cniBinaries: { 'loom-cni': LOOM_CNI, loopback: join(DEBIAN_CNI_DIR, 'loopback'), portmap: join(DEBIAN_CNI_DIR, 'portmap') },
    });
    const image = await buildPauseImage(join(containerd.dir, 'pause-image.tar'));
    await containerd.importImage(image.archive, image.ref);
  });

  after(async () => {
    await containerd?.stop();
    await node?.destroy();
  });

  it('speaks CRI v1 to containerd (field numbers round-trip through the verbose status)', async () => {
    const v = await containerd!.cri.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
  });

  it('runs two sandboxes on the loom network, they reach each other, and Stop+Remove leave nothing behind', async () => {
    const cri = containerd!.cri;
    const pods = [
      { name: 'cri-a', uid: '6f1f4e5c-0000-4000-8000-00000000000a', hostPort: 18080 },
      { name: 'cri-b', uid: '6f1f4e5c-0000-4000-8000-00000000000b', hostPort: 18081 },
    ];
    const sandboxes: Array<{ id: string; name: string; uid: string; ip: string; netns: string }> = [];
    for (const p of pods) {
      const id = await cri.runPodSandbox(sandboxConfig(p.name, 'default', p.uid, {
        annotations: { 'loom.test/case': 'cri' },
        dnsConfig: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'] },
        portMappings: [{ protocol: 'UDP', containerPort: 8080, hostPort: p.hostPort }],
      }));
      const st = await cri.podSandboxStatus(id, true);
      const netns = sandboxNetnsPath(st);
      const s = st.status!;
      assert.equal(s.state, 'SANDBOX_READY');
      assert.equal(s.id, id);
      assert.deepEqual({ name: s.metadata?.name, ns: s.metadata?.namespace, uid: s.metadata?.uid }, { name: p.name, ns: 'default', uid: p.uid });
      assert.equal(s.annotations['loom.test/case'], 'cri');
      assert.equal(s.labels['io.kubernetes.pod.name'], p.name);
      assert.equal(s.linux?.namespaces?.options?.pid, 'CONTAINER');
      // containerd's own JSON of the request it decoded: proves api.proto's field numbers and enum
      // values match containerd's (a symmetric mistake would pass the round-trip checks above).
      const cfg = sandboxInfo(st).config;
      assert.deepEqual(cfg?.metadata, { name: p.name, uid: p.uid, namespace: 'default' });
      assert.equal(cfg?.hostname, p.name);
      assert.deepEqual(cfg?.dns_config, { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'] });
      assert.deepEqual(cfg?.port_mappings, [{ protocol: 1, container_port: 8080, host_port: p.hostPort }]);
      assert.deepEqual(cfg?.linux?.security_context?.namespace_options, { pid: 1 }); // network POD=0, pid CONTAINER=1, ipc POD=0
      assert.equal(cfg?.annotations?.['loom.test/case'], 'cri');
      const ip = s.network?.ip ?? '';
      assert.ok(inCidr(ip, POD_CIDR), `sandbox ${p.name} got IP ${JSON.stringify(ip)}, expected one in ${POD_CIDR}`);
      sandboxes.push({ id, name: p.name, uid: p.uid, ip, netns });
    }
    const [a, b] = sandboxes as [(typeof sandboxes)[0], (typeof sandboxes)[0]];
    assert.notEqual(a.ip, b.ip);
    assert.deepEqual((await cri.listPodSandbox()).map((s) => s.id).sort(), [a.id, b.id].sort());
    const onlyA = await cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.name': 'cri-a' } });
    assert.deepEqual(onlyA.map((s) => s.id), [a.id], 'ListPodSandbox filter by label');

    // The agent got the Kubernetes identity containerd passed in CNI_ARGS (sandbox id = container id).
    const ports = Object.values(await ovsLoomPorts(node!));
    assert.equal(ports.length, 2, `expected 2 loom OVS ports, got ${JSON.stringify(ports)}`);
    for (const s of sandboxes) {
      const ids = ports.find((p) => p['loom-container-id'] === s.id);
      assert.ok(ids, `an OVS port for sandbox ${s.id}: ${JSON.stringify(ports)}`);
      assert.deepEqual([ids['loom-pod-name'], ids['loom-pod-namespace'], ids['loom-pod-uid'], ids['loom-ip']], [s.name, 'default', s.uid, s.ip]);
    }
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
    assert.deepEqual(await ovsLoomPorts(node!), {}, 'no OVS port with loom external_ids is left');
    assert.deepEqual(await ipamAllocations(node!), {}, 'no IPAM allocation is left');
    assert.deepEqual(await hostVeths(node!), [], 'no host veth lm* is left in the node netns');
    for (const s of sandboxes) {
      if (s.netns.startsWith('/var/run/netns/')) assert.equal(existsSync(s.netns), false, `sandbox netns ${s.netns} is removed`);
    }
  });
});
