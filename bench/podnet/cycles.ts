// One benchmark process: N create+delete cycles of a pod interface in the CURRENT netns against
// the pod netns at argv[2]. Started by bench/podnet/run.ts inside a loomt- node netns, once per
// variant (LOOM_PODNET_FFI=off forces the nsenter spawn path). Prints one JSON object.
import { execa } from 'execa';
import { createPodInterface, deletePodInterface, podSideSetupCounts, preparePodSide, randomMac } from '../../node-agent/src/podnet/index.js';
import { podIpBatch } from '../../node-agent/src/podnet/podns.js';
import { closeRtnl } from '../../node-agent/src/podnet/rtnl.js';
import { writeHostVethSysctls } from '../../node-agent/src/podnet/sysctl.js';

const HOST = 'lmbench0';
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.floor(s.length / 2)]!.toFixed(2));
};

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const spec = (netnsPath: string, disableTxChecksum: boolean) => ({
  netnsPath, ifname: 'eth0', hostIfname: HOST, mtu: 1450, address: '10.244.1.5/24', gateway: '10.244.1.1', disableTxChecksum,
});

/** Reference: everything spawned (ip link add with the peer in place, ip link set up, nsenter ip -batch, nsenter ethtool). */
async function createBySpawns(netnsPath: string): Promise<void> {
  await execa('ip', ['link', 'add', HOST, 'mtu', '1450', 'address', randomMac(), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'address', randomMac(), 'netns', netnsPath]);
  writeHostVethSysctls(HOST);
  await Promise.all([
    execa('ip', ['link', 'set', HOST, 'up']),
    execa('nsenter', [`--net=${netnsPath}`, '--', 'ip', '-batch', '-'], { input: podIpBatch({ ifname: 'eth0', address: '10.244.1.5/24', gateway: '10.244.1.1' }) }),
    execa('nsenter', [`--net=${netnsPath}`, '--', 'ethtool', '-K', 'eth0', 'tx', 'off']),
  ]);
}

type Variant = 'module' | 'moduleNoEthtool' | 'allSpawns';

async function main(): Promise<void> {
  const netnsPath = process.argv[2];
  const n = Number(process.argv[3] ?? 50);
  const only = (process.argv[4] ?? 'module,moduleNoEthtool,allSpawns').split(',') as Variant[];
  if (!netnsPath || !Number.isInteger(n) || n < 1) throw new Error('usage: cycles.ts /var/run/netns/POD [N] [module,moduleNoEthtool,allSpawns]');
  const variants: Record<Variant, { create: () => Promise<unknown>; del: () => Promise<unknown> }> = {
    module: { create: () => createPodInterface(spec(netnsPath, true)), del: () => deletePodInterface({ hostIfname: HOST }) },
    moduleNoEthtool: { create: () => createPodInterface(spec(netnsPath, false)), del: () => deletePodInterface({ hostIfname: HOST }) },
    allSpawns: { create: () => createBySpawns(netnsPath), del: () => execa('ip', ['link', 'del', HOST]) },
  };
  const t0 = performance.now();
  const prepared = preparePodSide(); // what the agent does at start-up: load koffi (or decide to spawn)
  const prepareMs = Number((performance.now() - t0).toFixed(2));
  const out: Record<string, { firstCreate: number; create: number; delete: number; cycle: number }> = {};
  for (const name of only) {
    const v = variants[name];
    if (!v) throw new Error(`unknown variant ${name}`);
    const firstCreate = await time(v.create); // first call: cold code paths and sockets
    await v.del();
    const c: number[] = [], d: number[] = [], cy: number[] = [];
    for (let i = 0; i < n; i++) {
      const tc = await time(v.create);
      const td = await time(v.del);
      c.push(tc); d.push(td); cy.push(tc + td);
    }
    out[name] = { firstCreate: Number(firstCreate.toFixed(2)), create: median(c), delete: median(d), cycle: median(cy) };
  }
  console.log(JSON.stringify({ cycles: n, prepared, prepareMs, podSideSetups: podSideSetupCounts(), medianMs: out }));
  closeRtnl();
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
