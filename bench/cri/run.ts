// Pod sandbox lifecycle through a real containerd (CRI plugin), as kubelet drives it:
// RunPodSandbox + StopPodSandbox + RemovePodSandbox, with Loom (loom-cni -> loom-agent -> OVS netdev)
// against Debian's bridge + host-local on an identically configured containerd on the same machine.
// Everything runs in loomt- namespaces and temporary directories that are removed afterwards.
//   node --import tsx bench/cri/run.ts [CYCLES=20]     (root; needs containerd, runc, npm run build)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, deleteNetns } from '../../node-agent/test/support/netns.js';
import { LOOM_CNI, startAgentNode, type AgentNode } from '../../node-agent/test/support/agent-node.js';
import { cleanupContainerdLeftovers, containerdUnavailableReason, DEBIAN_CNI_DIR, startContainerd, type PrivateContainerd } from '../../e2e/cri/containerd.js';
import { bridgeConflist, loomConflist, type Conflist } from '../../e2e/cri/conflists.js';
import { sandboxConfig } from '../../e2e/cri/cri-client.js';
import { buildPauseImage, PAUSE_IMAGE_REF } from '../../e2e/cri/pause-image.js';

interface PhaseStats {
  run: number;
  stop: number;
  remove: number;
  total: number;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
}

async function cycles(c: PrivateContainerd, n: number, label: string): Promise<{ median: PhaseStats; p90: PhaseStats }> {
  const samples: PhaseStats[] = [];
  for (let i = 0; i < n + 1; i++) {
    const cfg = sandboxConfig(`bench-${label}-${i}`, 'bench', `uid-${label}-${i}`);
    const t0 = performance.now();
    const id = await c.cri.runPodSandbox(cfg);
    const t1 = performance.now();
    await c.cri.stopPodSandbox(id);
    const t2 = performance.now();
    await c.cri.removePodSandbox(id);
    const t3 = performance.now();
    if (i > 0) samples.push({ run: t1 - t0, stop: t2 - t1, remove: t3 - t2, total: t3 - t0 }); // first cycle warms caches
  }
  const stat = (q: number): PhaseStats => ({
    run: quantile(samples.map((s) => s.run), q),
    stop: quantile(samples.map((s) => s.stop), q),
    remove: quantile(samples.map((s) => s.remove), q),
    total: quantile(samples.map((s) => s.total), q),
  });
  return { median: stat(0.5), p90: stat(0.9) };
}

async function withContainerd<T>(netns: string, conflist: Conflist, cniBinaries: Record<string, string>, image: string, f: (c: PrivateContainerd) => Promise<T>): Promise<T> {
  const c = await startContainerd({ netns, sandboxImage: PAUSE_IMAGE_REF, conflist, cniBinaries });
  try {
    await c.importImage(image, PAUSE_IMAGE_REF);
    return await f(c);
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 20);
  if (!Number.isInteger(n) || n < 1) throw new Error('usage: run.ts [CYCLES]');
  const missing = containerdUnavailableReason();
  if (missing) throw new Error(`cannot run the CRI benchmark: ${missing}`);
  await cleanupContainerdLeftovers();
  const work = await mkdtemp(join(tmpdir(), 'loomt-benchcri-'));
  const bridgeNs = 'loomt-benchcri-br';
  let node: AgentNode | undefined;
  try {
    const image = (await buildPauseImage(join(work, 'pause.tar'))).archive;
    const loopback = join(DEBIAN_CNI_DIR, 'loopback');
    const portmap = join(DEBIAN_CNI_DIR, 'portmap');

    node = await startAgentNode({ name: 'loomt-benchcri-n1', podCidr: '10.244.8.0/24' });
    const loom = await withContainerd(node.netns, loomConflist(node.socket), { 'loom-cni': LOOM_CNI, loopback, portmap }, image, (c) => cycles(c, n, 'loom'));

    await createNetns(bridgeNs);
    const bridge = await withContainerd(
      bridgeNs,
      bridgeConflist('10.244.9.0/24', join(work, 'host-local')),
      { bridge: join(DEBIAN_CNI_DIR, 'bridge'), 'host-local': join(DEBIAN_CNI_DIR, 'host-local'), loopback, portmap },
      image,
      (c) => cycles(c, n, 'bridge'),
    );
    console.log(JSON.stringify({ what: 'containerd 1.6 CRI RunPodSandbox+StopPodSandbox+RemovePodSandbox, ms', cycles: n, date: new Date().toISOString(), loom, bridge }, null, 2));
  } finally {
    await node?.destroy();
    await deleteNetns(bridgeNs);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
