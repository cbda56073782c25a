// bench/podnet/run.ts prints its own JSON; this turns it into the common result format.
import { metric, type BenchResult, type Machine, type Metric } from '../lib/result.js';

interface Medians {
  firstCreate: number;
  create: number;
  delete: number;
  cycle: number;
}

export interface PodnetOutput {
  cycles: number;
  results: Record<string, { prepared?: { inProcess: boolean; reason?: string }; medianMs: Record<string, Medians> }>;
}

export function fromPodnet(raw: unknown, meta: { command: string; date: string; machine: Machine }): BenchResult {
  const o = raw as PodnetOutput;
  if (typeof o?.cycles !== 'number' || typeof o.results !== 'object' || o.results === null) {
    throw new Error('podnet output lacks cycles / results: has bench/podnet/run.ts changed its JSON? Update bench/adapters/podnet.ts');
  }
  const metrics: Metric[] = [];
  const cycleNames: string[] = [];
  const notes: string[] = [`${o.cycles} create/delete cycles per variant; medians.`];
  for (const [run, r] of Object.entries(o.results)) {
    if (r.prepared && !r.prepared.inProcess && r.prepared.reason) notes.push(`${run}: not in-process (${r.prepared.reason})`);
    for (const [variant, m] of Object.entries(r.medianMs ?? {})) {
      const label = `${run} / ${variant}`;
      metrics.push(metric(`${label} create`, m.create, 'ms'), metric(`${label} delete`, m.delete, 'ms'), metric(`${label} cycle`, m.cycle, 'ms'));
      cycleNames.push(`${label} cycle`);
    }
  }
  return {
    name: 'podnet',
    command: meta.command,
    date: meta.date,
    machine: meta.machine,
    metrics,
    charts: [{ id: 'cycle', title: 'Pod interface create + delete, median per variant', kind: 'bar', unit: 'ms', metrics: cycleNames }],
    notes,
  };
}
