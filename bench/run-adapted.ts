// Runs a benchmark that prints its own JSON (bench/<name>/run.ts), converts the output to the
// common format and writes bench/results/<name>.json. Output already in the common format is kept
// as is; a benchmark that writes its result file itself is left alone.
//   node --import tsx bench/run-adapted.ts NAME        (NAME: policy-compile, podnet, bandwidth, ...)
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { fromCri } from './adapters/cri.js';
import { fromGeneric } from './adapters/generic.js';
import { fromPodnet } from './adapters/podnet.js';
import { fromPolicyCompile } from './adapters/policy-compile.js';
import { BENCH_DIR, machineNow, parseResult, RESULTS_DIR, roundTo, writeResult, type BenchResult, type Machine } from './lib/result.js';

type Adapter = (raw: unknown, meta: { command: string; date: string; machine: Machine }) => BenchResult;

const ADAPTERS: Record<string, { nodeArgs: string[]; adapt: Adapter }> = {
  'policy-compile': { nodeArgs: ['--expose-gc', '--import', 'tsx'], adapt: fromPolicyCompile },
  podnet: { nodeArgs: ['--import', 'tsx'], adapt: fromPodnet },
  cri: { nodeArgs: ['--import', 'tsx'], adapt: fromCri },
};

function isCommonFormat(x: unknown, name: string): BenchResult | undefined {
  try {
    const r = parseResult(x, name);
    return r.name === name ? r : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? '';
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`usage: run-adapted.ts NAME, where NAME is a folder of bench/ such as policy-compile (got "${name}")`);
  const script = join(BENCH_DIR, name, 'run.ts');
  if (!existsSync(script)) {
    console.error(`[${name}] ${script} does not exist yet: skipped (the report lists it as not run)`);
    return;
  }
  const adapter = ADAPTERS[name];
  const nodeArgs = adapter?.nodeArgs ?? ['--import', 'tsx'];
  const command = `node ${[...nodeArgs, `bench/${name}/run.ts`].join(' ')}`;
  const machine = machineNow();
  const started = Date.now();
  const date = new Date(started).toISOString();
  console.error(`[${name}] running ${command}`);
  const r = await execa(process.execPath, [...nodeArgs, script], { cwd: join(BENCH_DIR, '..'), stderr: 'inherit', reject: false, timeout: 3_600_000 });
  if (r.exitCode !== 0) throw new Error(`[${name}] ${command} exited with ${r.exitCode}; its stderr is above`);
  const resultFile = join(RESULTS_DIR, `${name}.json`);
  const st = await stat(resultFile).catch(() => undefined);
  if (st && st.mtimeMs >= started) {
    console.error(`[${name}] wrote ${resultFile} itself`);
    return;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(r.stdout);
  } catch {
    throw new Error(`[${name}] printed no JSON on stdout and did not write ${resultFile}: print one JSON object or write the result file`);
  }
  const meta = { command, date, machine: { ...machine, loadEnd: loadavg().map((x) => roundTo(x)) } };
  const result = isCommonFormat(raw, name) ?? (adapter ? adapter.adapt(raw, meta) : fromGeneric(name, raw, meta));
  console.error(`[${name}] wrote ${await writeResult(result)}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
