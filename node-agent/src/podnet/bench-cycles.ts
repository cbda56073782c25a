// Benchmark: N create+delete cycles of a pod interface, in the current netns, against a pod netns path.
// Compares the module (rtnetlink host side + one parallel nsenter round) with an all-spawn variant.
//   ip netns exec NODE node --import tsx node-agent/src/podnet/bench-cycles.ts /var/run/netns/POD [N]
// Prints JSON with medians in ms. Belongs in bench/ once someone owns it there.
import { execa } from 'execa';
import { writeHostVethSysctls } from './sysctl.js';
import { podIpBatch } from './podns.js';
import { createPodInterface, deletePodInterface, randomMac } from './podif.js';
import { closeRtnl } from './rtnl.js';

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
  netnsPath, ifname: 'eth0', hostIfname: 'lmbench0', mtu: 1450, address: '10.244.1.5/24', gateway: '10.244.1.1', disableTxChecksum,
});

/** All-spawn variant: ip link add (peer in place) ; sysctls ; ip link set up ; nsenter ip -batch ; nsenter ethtool. */
async function createBySpawns(netnsPath: string): Promise<void> {
  await execa('ip', ['link', 'add', 'lmbench0', 'mtu', '1450', 'address', randomMac(), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', '1450', 'address', randomMac(), 'netns', netnsPath]);
  writeHostVethSysctls('lmbench0');
  await Promise.all([
    execa('ip', ['link', 'set', 'lmbench0', 'up']),
    execa('nsenter', [`--net=${netnsPath}`, '--', 'ip', '-batch', '-'], { input: podIpBatch({ ifname: 'eth0', address: '10.244.1.5/24', gateway: '10.244.1.1' }) }),
    execa('nsenter', [`--net=${netnsPath}`, '--', 'ethtool', '-K', 'eth0', 'tx', 'off']),
  ]);
}

async function main(): Promise<void> {
  const netnsPath = process.argv[2];
  const n = Number(process.argv[3] ?? 50);
  if (!netnsPath) throw new Error('usage: bench-cycles.ts /var/run/netns/POD [N]');
  const variants: Record<string, { create: () => Promise<unknown>; del: () => Promise<unknown> }> = {
    module: { create: () => createPodInterface(spec(netnsPath, true)), del: () => deletePodInterface({ hostIfname: 'lmbench0' }) },
    moduleNoEthtool: { create: () => createPodInterface(spec(netnsPath, false)), del: () => deletePodInterface({ hostIfname: 'lmbench0' }) },
    allSpawns: { create: () => createBySpawns(netnsPath), del: () => execa('ip', ['link', 'del', 'lmbench0']) },
  };
  const out: Record<string, { create: number; delete: number; cycle: number }> = {};
  for (const [name, v] of Object.entries(variants)) {
    await v.create(); await v.del(); // warm-up
    const c: number[] = [], d: number[] = [], cy: number[] = [];
    for (let i = 0; i < n; i++) {
      const tc = await time(v.create);
      const td = await time(v.del);
      c.push(tc); d.push(td); cy.push(tc + td);
    }
    out[name] = { create: median(c), delete: median(d), cycle: median(cy) };
  }
  console.log(JSON.stringify({ cycles: n, medianMs: out }, null, 2));
  closeRtnl();
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
