// Pod interface create/delete benchmark: in-process pod setup (setns + sockets through koffi)
// against the nsenter spawn fallback and an all-spawn reference. Creates its own loomt- node and
// pod namespaces, removes them afterwards, and prints one JSON object (medians in ms).
//   node --import tsx bench/podnet/run.ts [CYCLES=50]     (root)
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createNetns, deleteNetns } from '../../node-agent/test/support/netns.js';

const NODE_BIN = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
const CYCLES_SCRIPT = fileURLToPath(new URL('./cycles.ts', import.meta.url));

interface CyclesOutput {
  cycles: number;
  prepared: { inProcess: boolean; reason?: string };
  prepareMs: number;
  podSideSetups: { inProcess: number; spawnFallback: number };
  medianMs: Record<string, { firstCreate: number; create: number; delete: number; cycle: number }>;
}

async function main(): Promise<void> {
  const cycles = Number(process.argv[2] ?? 50);
  if (!Number.isInteger(cycles) || cycles < 1) throw new Error('usage: run.ts [CYCLES]');
  const run = randomBytes(3).toString('hex');
  const nodeNs = `loomt-bench-node-${run}`;
  const podNs = `loomt-bench-pod-${run}`;
  const runs: Array<{ name: string; variants: string; env: Record<string, string> }> = [
    { name: 'inProcess', variants: 'module,moduleNoEthtool', env: {} },
    { name: 'spawnFallback', variants: 'module,moduleNoEthtool', env: { LOOM_PODNET_FFI: 'off' } },
    { name: 'reference', variants: 'allSpawns', env: {} },
  ];
  try {
    await createNetns(nodeNs);
    await createNetns(podNs);
    const results: Record<string, CyclesOutput> = {};
    for (const r of runs) {
      const { stdout } = await execa('ip', ['netns', 'exec', nodeNs, NODE_BIN, '--import', 'tsx', CYCLES_SCRIPT, `/var/run/netns/${podNs}`, String(cycles), r.variants], {
        env: r.env, timeout: 600_000,
      });
      results[r.name] = JSON.parse(stdout) as CyclesOutput;
    }
    console.log(JSON.stringify({ cycles, date: new Date().toISOString(), results }, null, 2));
  } finally {
    await deleteNetns(podNs);
    await deleteNetns(nodeNs);
  }
}

main().catch((err: unknown) => { console.error(err); process.exit(1); });
