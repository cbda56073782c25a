// bench/policy-compile/run.ts prints its own JSON; this turns it into the common result format.
import { metric, type BenchResult, type Machine, type Metric } from '../lib/result.js';

interface ChangeStats {
  medianMs: number;
  maxMs: number;
  medianCpuMs: number;
  medianDiffFlows: number;
}

export interface PolicyCompileOutput {
  cluster: { pods: number; namespaces: number; policies: number; localPods: number };
  full: { ms: number; cpuMs: number; flows: number; rules: number; activePolicies: number; warnings: number; heapMB: { afterCompile: number; compilerState: number } };
  singleChange: Record<string, ChangeStats | number>;
  targets: { fullMs: number; heapMB: number; singleChangeMs: number };
}

function isChangeStats(x: unknown): x is ChangeStats {
  return typeof x === 'object' && x !== null && typeof (x as ChangeStats).medianMs === 'number' && typeof (x as ChangeStats).maxMs === 'number';
}

export function fromPolicyCompile(raw: unknown, meta: { command: string; date: string; machine: Machine }): BenchResult {
  const o = raw as PolicyCompileOutput;
  if (typeof o?.full?.ms !== 'number' || typeof o.singleChange !== 'object' || typeof o.targets?.fullMs !== 'number') {
    throw new Error('policy-compile output lacks full.ms / singleChange / targets: has bench/policy-compile/run.ts changed its JSON? Update bench/adapters/policy-compile.ts');
  }
  const c = o.cluster;
  const metrics: Metric[] = [
    metric('full compile, wall', o.full.ms, 'ms', { max: o.targets.fullMs }),
    metric('full compile, CPU', o.full.cpuMs, 'ms'),
    metric('heap after compile', o.full.heapMB.afterCompile, 'MB', { max: o.targets.heapMB }),
    metric('compiler state heap', o.full.heapMB.compilerState, 'MB'),
    metric('flows', o.full.flows, 'count'),
    metric('rules', o.full.rules, 'count'),
    metric('active policies', o.full.activePolicies, 'count'),
  ];
  const changeNames: string[] = [];
  for (const [name, s] of Object.entries(o.singleChange)) {
    if (!isChangeStats(s)) continue;
    changeNames.push(`${name} median`);
    metrics.push(metric(`${name} median`, s.medianMs, 'ms', { max: o.targets.singleChangeMs }, `max ${s.maxMs} ms, CPU median ${s.medianCpuMs} ms, ${s.medianDiffFlows} flows changed`));
  }
  return {
    name: 'policy-compile',
    command: meta.command,
    date: meta.date,
    machine: meta.machine,
    metrics,
    charts: [{ id: 'single-change', title: 'Policy compiler: one change, median time to the flow diff', kind: 'bar', unit: 'ms', metrics: changeNames }],
    notes: [`Synthetic cluster: ${c.pods} pods, ${c.namespaces} namespaces, ${c.policies} policies, ${c.localPods} pods on the node. Single-change targets apply to the median.`],
  };
}
