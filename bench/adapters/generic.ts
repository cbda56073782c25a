// Fallback for a benchmark that prints JSON in its own shape: every numeric leaf becomes a metric
// named by its path (unit guessed from the key: ...Ms -> ms, ...MB -> MB), without targets.
import { metric, type BenchResult, type Machine, type Metric } from '../lib/result.js';

const MAX_METRICS = 80;

function unitOf(key: string): string {
  if (/ms$/i.test(key)) return 'ms';
  if (/mb$/i.test(key)) return 'MB';
  if (/gbps$|gbits?$/i.test(key)) return 'Gbit/s';
  if (/mbps$|mbits?$/i.test(key)) return 'Mbit/s';
  if (/ratio$/i.test(key)) return 'ratio';
  return '';
}

export function flattenNumbers(x: unknown, path = '', out: Array<[string, number]> = []): Array<[string, number]> {
  if (typeof x === 'number' && Number.isFinite(x)) out.push([path, x]);
  else if (Array.isArray(x)) return out; // raw sample arrays are not metrics
  else if (typeof x === 'object' && x !== null) for (const [k, v] of Object.entries(x)) flattenNumbers(v, path ? `${path}.${k}` : k, out);
  return out;
}

export function fromGeneric(name: string, raw: unknown, meta: { command: string; date: string; machine: Machine }): BenchResult {
  const leaves = flattenNumbers(raw);
  const metrics: Metric[] = leaves.slice(0, MAX_METRICS).map(([path, v]) => metric(path, v, unitOf(path.split('.').pop() ?? '')));
  const notes = [`Converted generically from the benchmark's own JSON (no targets): give it an adapter in bench/adapters/ or have it write bench/results/${name}.json itself.`];
  if (leaves.length > MAX_METRICS) notes.push(`${leaves.length - MAX_METRICS} more numbers not shown.`);
  return { name, command: meta.command, date: meta.date, machine: meta.machine, metrics, notes };
}
