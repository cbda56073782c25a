// The common result format every benchmark writes to bench/results/<name>.json, and the helpers
// to build and validate it. bench/report.ts reads only this format.
import { cpus, loadavg } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

export const BENCH_DIR = resolve(import.meta.dirname, '..');
export const RESULTS_DIR = join(BENCH_DIR, 'results');

/** A pass/fail bound: value must be <= max and/or >= min. */
export interface Target {
  max?: number;
  min?: number;
}

export interface Metric {
  name: string;
  value: number;
  /** 'ms', 's', 'MB', 'ratio', 'count', '%', 'Gbit/s', ... */
  unit: string;
  target?: Target;
  pass?: boolean;
  /** One-line explanation shown in the report. */
  note?: string;
}

export interface Machine {
  cpus: number;
  /** 1, 5 and 15 minute load averages when the benchmark started */
  load: number[];
  /** load averages when it ended */
  loadEnd?: number[];
}

/**
 * A chart the report draws from this result:
 * - cdf: one line per series key (values in `unit`), cumulative distribution
 * - line: one line per series key, value against sample number
 * - bar: one bar per metric name (its value)
 */
export type ChartSpec =
  | { id: string; title: string; kind: 'cdf' | 'line'; unit: string; series: string[] }
  | { id: string; title: string; kind: 'bar'; unit: string; metrics: string[] };

export interface BenchResult {
  name: string;
  /** The command that produced this result, as typed in /work/main */
  command: string;
  /** ISO 8601 */
  date: string;
  machine: Machine;
  metrics: Metric[];
  /** Raw samples by key (e.g. 'loom.add.ms'), for charts. */
  series?: Record<string, number[]>;
  charts?: ChartSpec[];
  /** Free-form remarks listed under the table. */
  notes?: string[];
}

export function roundTo(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function machineNow(): Machine {
  return { cpus: cpus().length, load: loadavg().map((x) => roundTo(x)) };
}

/** A metric with its pass flag computed from the target. */
export function metric(name: string, value: number, unit: string, target?: Target, note?: string): Metric {
  const m: Metric = { name, value: roundTo(value), unit };
  if (target) {
    m.target = target;
    m.pass = (target.max === undefined || value <= target.max) && (target.min === undefined || value >= target.min);
  }
  if (note) m.note = note;
  return m;
}

function isNumberArray(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v));
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Checks a parsed JSON value; throws naming the first field that is wrong. */
export function parseResult(x: unknown, source: string): BenchResult {
  const bad = (what: string): never => {
    throw new Error(`${source}: ${what} (see the BenchResult format in bench/lib/result.ts)`);
  };
  if (!isObject(x)) return bad('not a JSON object');
  for (const k of ['name', 'command', 'date'] as const) if (typeof x[k] !== 'string') bad(`"${k}" must be a string`);
  const machine = x.machine;
  if (!isObject(machine) || typeof machine.cpus !== 'number' || !isNumberArray(machine.load)) bad('"machine" must be {cpus: number, load: number[]}');
  if (!Array.isArray(x.metrics)) bad('"metrics" must be an array');
  (x.metrics as unknown[]).forEach((m, i) => {
    if (!isObject(m) || typeof m.name !== 'string' || typeof m.value !== 'number' || typeof m.unit !== 'string') {
      bad(`metrics[${i}] must be {name: string, value: number, unit: string}`);
    }
  });
  if (x.series !== undefined) {
    if (!isObject(x.series)) bad('"series" must be an object of number arrays');
    for (const [k, v] of Object.entries(x.series as Record<string, unknown>)) if (!isNumberArray(v)) bad(`series["${k}"] must be an array of numbers`);
  }
  if (x.charts !== undefined && !Array.isArray(x.charts)) bad('"charts" must be an array');
  return x as unknown as BenchResult;
}

export async function writeResult(r: BenchResult, dir = RESULTS_DIR): Promise<string> {
  const file = join(dir, `${r.name}.json`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(r, null, 2) + '\n');
  return file;
}
