// bench/cri/run.ts prints its own JSON (containerd CRI sandbox lifecycle, Loom vs bridge); this
// turns it into the common result format with Loom / bridge ratios.
import { metric, type BenchResult, type Machine, type Metric } from '../lib/result.js';

const PHASES = ['run', 'stop', 'remove', 'total'] as const;
type Phase = (typeof PHASES)[number];
type PhaseStats = Record<Phase, number>;

export interface CriOutput {
  cycles: number;
  loom: { median: PhaseStats; p90: PhaseStats };
  bridge: { median: PhaseStats; p90: PhaseStats };
}

export function fromCri(raw: unknown, meta: { command: string; date: string; machine: Machine }): BenchResult {
  const o = raw as CriOutput;
  if (typeof o?.cycles !== 'number' || typeof o.loom?.median?.total !== 'number' || typeof o.bridge?.median?.total !== 'number') {
    throw new Error('cri output lacks cycles / loom.median / bridge.median: has bench/cri/run.ts changed its JSON? Update bench/adapters/cri.ts');
  }
  const metrics: Metric[] = [];
  for (const p of PHASES) {
    metrics.push(
      metric(`Loom ${p} median`, o.loom.median[p], 'ms'),
      metric(`bridge ${p} median`, o.bridge.median[p], 'ms'),
      metric(`${p} median Loom / bridge`, o.loom.median[p] / o.bridge.median[p], 'ratio'),
      metric(`Loom ${p} p90`, o.loom.p90[p], 'ms'),
      metric(`bridge ${p} p90`, o.bridge.p90[p], 'ms'),
    );
  }
  return {
    name: 'cri',
    command: meta.command,
    date: meta.date,
    machine: meta.machine,
    metrics,
    charts: [{ id: 'phases', title: 'containerd CRI sandbox lifecycle, median ms', kind: 'bar', unit: 'ms', metrics: PHASES.flatMap((p) => [`Loom ${p} median`, `bridge ${p} median`]) }],
    notes: [`${o.cycles} RunPodSandbox + StopPodSandbox + RemovePodSandbox cycles through a private containerd 1.6 per plugin (loopback and portmap chained as a runtime would).`],
  };
}
