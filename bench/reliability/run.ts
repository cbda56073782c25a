// Runs the reliability scenarios (node-agent/test/reliability) and writes their figures to
// bench/results/reliability.json in the common benchmark format.
//
//   node --import tsx bench/reliability/run.ts            # CI-sized variants
//   node --import tsx bench/reliability/run.ts --soak     # long variants (LOOM_RELIABILITY_SOAK=1)
//   node --import tsx bench/reliability/run.ts FILE...    # only some scenario files
//   node --import tsx bench/reliability/run.ts --collect F.jsonl...  # only assemble figures already
//        recorded by runs with LOOM_RELIABILITY_RESULTS=F.jsonl (when the scenarios ran separately)
//
// Needs root (network namespaces, OVS) and a built dist/ (npm run build).
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { machineNow, metric, roundTo, writeResult, type BenchResult, type Metric } from '../lib/result.js';

interface RecordedFigure {
  scenario: string;
  name: string;
  value: number;
  unit: string;
  target?: { max?: number; min?: number };
  note?: string;
}

const REPO = resolve(import.meta.dirname, '../..');
const DEFAULT_FILES = [
  'node-agent/test/reliability/hostile-input.test.ts',
  'node-agent/test/reliability/local-security.test.ts',
  'node-agent/test/reliability/concurrency.test.ts',
  'node-agent/test/reliability/crash-consistency.test.ts',
  'node-agent/test/reliability/node-reboot.test.ts',
  'node-agent/test/reliability/spoofing.test.ts',
  'node-agent/test/reliability/policy-bypass.test.ts',
];

async function readFigures(files: string[]): Promise<RecordedFigure[]> {
  const out: RecordedFigure[] = [];
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    out.push(...text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RecordedFigure));
  }
  return out;
}

async function collect(files: string[]): Promise<void> {
  const figures = await readFigures(files);
  const result: BenchResult = {
    name: 'reliability',
    command: 'LOOM_RELIABILITY_RESULTS=F.jsonl npx mocha ... node-agent/test/reliability/<scenario>.test.ts (per scenario), then node --import tsx bench/reliability/run.ts --collect F.jsonl...',
    date: new Date().toISOString(),
    machine: machineNow(),
    metrics: figures.map((f) => metric(`${f.scenario}: ${f.name}`, f.value, f.unit, f.target, f.note)),
    notes: ['Assembled from separate scenario runs on a shared, loaded 2-core VM; see docs/reliability.md.'],
  };
  console.log(`wrote ${await writeResult(result)}`);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--collect') return collect(args.slice(1));
  const soak = args.includes('--soak');
  const files = args.filter((a) => !a.startsWith('--'));
  const dir = await mkdtemp(join(tmpdir(), 'loomt-relbench-'));
  const figuresFile = join(dir, 'figures.jsonl');
  const machine = machineNow();
  const started = Date.now();
  const r = await execa(
    'npx',
    ['mocha', '--no-config', '--node-option', 'import=tsx', '--extension', 'ts', '--exit', '--timeout', '3600000', ...(files.length > 0 ? files : DEFAULT_FILES)],
    {
      cwd: REPO,
      reject: false,
      stdout: 'inherit',
      stderr: 'inherit',
      env: { LOOM_RELIABILITY_RESULTS: figuresFile, ...(soak ? { LOOM_RELIABILITY_SOAK: '1' } : {}) },
    },
  );
  const figures = await readFigures([figuresFile]).catch(() => [] as RecordedFigure[]);
  await rm(dir, { recursive: true, force: true });
  const metrics: Metric[] = figures.map((f) => metric(`${f.scenario}: ${f.name}`, f.value, f.unit, f.target, f.note));
  metrics.push(metric('scenario files passing', r.exitCode === 0 ? 1 : 0, 'bool', { min: 1 }, `mocha exit code ${r.exitCode ?? 'none'}`));
  metrics.push(metric('total run time', (Date.now() - started) / 1000, 's'));
  const result: BenchResult = {
    name: 'reliability',
    command: `node --import tsx bench/reliability/run.ts${soak ? ' --soak' : ''}${files.length > 0 ? ` ${files.join(' ')}` : ''}`,
    date: new Date(started).toISOString(),
    machine: { ...machine, loadEnd: loadavg().map((x) => roundTo(x)) },
    metrics,
    notes: [
      soak ? 'Soak variants (LOOM_RELIABILITY_SOAK=1).' : 'CI-sized variants; run with --soak for the long ones.',
      'Cross-node restart under load, vswitchd restart, API outage and 410 Gone are in e2e/test/resilience.test.ts.',
    ],
  };
  const file = await writeResult(result);
  console.log(`wrote ${file}`);
  process.exitCode = r.exitCode === 0 ? 0 : 1;
}

void main();
