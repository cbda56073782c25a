// Start-up time of dist/loom-cni answering VERSION vs Debian's Go bridge plugin, same run, interleaved.
// Run: export PATH=/work/main/node_modules/.bin:$PATH; node scripts/build-cni.mjs; npx tsx cni-binary/bench/startup.ts [runs]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const loomCni = join(root, 'dist', 'loom-cni');
const bridge = '/usr/lib/cni/bridge';
const runs = Number(process.argv[2] ?? 20);
const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'bench', type: 'loom' });

function timeOnce(binary: string, args: string[] = []): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(binary, args, { env: { CNI_COMMAND: 'VERSION' }, input: stdin });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${binary} VERSION exited ${String(r.status)}: ${String(r.stdout)}${String(r.stderr)}`);
  return ms;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

for (const b of [loomCni, bridge]) {
  if (!existsSync(b)) throw new Error(`${b} is missing (build with scripts/build-cni.mjs; apt-get install containernetworking-plugins)`);
  timeOnce(b); // warm the page cache
}
const loomTimes: number[] = [];
const bridgeTimes: number[] = [];
const bareNodeTimes: number[] = [];
for (let i = 0; i < runs; i++) {
  loomTimes.push(timeOnce(loomCni));
  bridgeTimes.push(timeOnce(bridge));
  bareNodeTimes.push(timeOnce(process.execPath, ['-e', '0']));
}
console.log(`VERSION start-up, median of ${runs} runs: loom-cni ${median(loomTimes).toFixed(1)} ms, ` +
  `bridge ${median(bridgeTimes).toFixed(1)} ms (bare \`node -e 0\`: ${median(bareNodeTimes).toFixed(1)} ms)`);
