// The benchmarks the report expects, in report order. A result file with another name is still
// reported (after these); an expected one without a result file is listed as "not run".

export interface KnownBenchmark {
  name: string;
  title: string;
  /** How to produce bench/results/<name>.json (run from the repository root, as root). */
  command: string;
}

export const KNOWN_BENCHMARKS: KnownBenchmark[] = [
  { name: 'cni-latency', title: 'CNI ADD/DEL latency: Loom vs Debian bridge + host-local', command: 'node --import tsx bench/cni-latency/run.ts' },
  { name: 'cri', title: 'Pod sandbox lifecycle through containerd CRI: Loom vs bridge', command: 'node --import tsx bench/run-adapted.ts cri' },
  { name: 'policy-compile', title: 'NetworkPolicy compiler at scale', command: 'node --import tsx bench/run-adapted.ts policy-compile' },
  { name: 'policy-realization', title: 'NetworkPolicy realization latency', command: 'node --import tsx bench/run-adapted.ts policy-realization' },
  { name: 'podnet', title: 'Pod interface create/delete', command: 'node --import tsx bench/run-adapted.ts podnet' },
  { name: 'bandwidth', title: 'Bandwidth limits', command: 'node --import tsx bench/run-adapted.ts bandwidth' },
  { name: 'datapath', title: 'Datapath throughput and latency', command: 'node --import tsx bench/run-adapted.ts datapath' },
  { name: 'reliability', title: 'Reliability under restarts and churn', command: 'node --import tsx bench/reliability/run.ts' },
];
