// Bandwidth limits benchmark (issue 6): achieved/limit ratio of one iperf3 TCP stream per case
// (same node and cross node; 10M and 100M; ingress and egress) on a 2-node e2e cluster (API server,
// OVS userspace datapath, real loom-agent from dist/), plus the unlimited rates of the same paths.
// Prints one result in the common format (bench/lib/result.ts).
//   npm run build && node --import tsx bench/run-adapted.ts bandwidth        (root)
//   env SECONDS_PER_RUN=5 (measured seconds per iperf3 run, after 1 s left out)
import { startCluster, type Cluster } from '../../e2e/lib/cluster.js';
import type { Pod } from '../../e2e/lib/pods.js';
import { machineNow, metric, roundTo, type BenchResult, type Metric } from '../lib/result.js';
import { iperfTcp } from './iperf.js';

const INGRESS = 'kubernetes.io/ingress-bandwidth';
const EGRESS = 'kubernetes.io/egress-bandwidth';
const log = (line: string) => console.error(`[bandwidth] ${line}`);

async function main(): Promise<void> {
  const seconds = Number(process.env.SECONDS_PER_RUN ?? 5);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 60) throw new Error(`SECONDS_PER_RUN must be 1..60, got ${process.env.SECONDS_PER_RUN}`);
  const machine = machineNow();
  const date = new Date().toISOString();
  let cluster: Cluster | undefined;
  try {
    log('starting a 2-node cluster');
    cluster = await startCluster({ nodes: 2 });
    const c = cluster;
    const pod = (name: string, node: number, annotations: Record<string, string> = {}) => c.createPod({ namespace: 'bw', name, node, annotations });
    const srv1 = await pod('srv1', 1);
    const free1 = await pod('free1', 1);
    const srv2 = await pod('srv2', 2);
    const l10 = await pod('l10', 1, { [INGRESS]: '10M', [EGRESS]: '10M' });
    const l100 = await pod('l100', 2, { [INGRESS]: '100M', [EGRESS]: '100M' });
    const rate = async (from: Pod, to: Pod) => (await iperfTcp({ serverNs: to.netns, serverIp: to.ip, clientNs: from.netns, seconds })).bitsPerSecond;

    const metrics: Metric[] = [];
    const series: Record<string, number[]> = {};
    const capacity = { 'same node': await rate(srv1, free1), 'cross node': await rate(srv1, srv2) };
    for (const [path, bps] of Object.entries(capacity)) {
      log(`unlimited ${path}: ${(bps / 1e6).toFixed(1)} Mbit/s`);
      metrics.push(metric(`unlimited ${path}`, bps / 1e6, 'Mbit/s', undefined, 'no limit: the datapath capacity during this run'));
    }
    const cases: Array<{ path: 'same node' | 'cross node'; limit: number; limited: Pod; peer: Pod }> = [
      { path: 'same node', limit: 10e6, limited: l10, peer: srv1 },
      { path: 'cross node', limit: 10e6, limited: l10, peer: srv2 },
      { path: 'same node', limit: 100e6, limited: l100, peer: srv2 },
      { path: 'cross node', limit: 100e6, limited: l100, peer: srv1 },
    ];
    const ratioNames: string[] = [];
    for (const k of cases) {
      for (const dir of ['ingress', 'egress'] as const) {
        const bps = dir === 'ingress' ? await rate(k.peer, k.limited) : await rate(k.limited, k.peer);
        const name = `${k.path} ${dir} ${k.limit / 1e6}M`;
        const ratio = bps / k.limit;
        log(`${name}: ${(bps / 1e6).toFixed(2)} Mbit/s, achieved/limit ${ratio.toFixed(3)}`);
        const tooSlow = capacity[k.path] < 1.25 * k.limit;
        metrics.push(metric(`${name} achieved/limit`, ratio, 'ratio', { min: 0.9, max: 1.1 }, tooSlow ? `the unlimited path gave only ${(capacity[k.path] / 1e6).toFixed(0)}M in this run: capacity-bound, not limiter-bound` : `${roundTo(bps / 1e6)} Mbit/s`));
        ratioNames.push(`${name} achieved/limit`);
        series[name] = [roundTo(bps / 1e6)];
      }
    }
    const result: BenchResult = {
      name: 'bandwidth',
      command: 'node --import tsx bench/run-adapted.ts bandwidth',
      date,
      machine: { ...machine, loadEnd: machineNow().load },
      metrics,
      series,
      charts: [{ id: 'bandwidth-ratio', title: 'Achieved / limit, one TCP stream (iperf3)', kind: 'bar', unit: 'ratio', metrics: ratioNames }],
      notes: [
        'Ingress (into the pod): OVS QoS linux-htb max-rate on the pod\'s port; egress (out of the pod): TBF on the pod\'s eth0. See docs/bandwidth.md.',
        `One iperf3 TCP stream per case, ${seconds} s measured after 1 s left out; the rate is the receiver's goodput.`,
        'The shapers count Ethernet frames; iperf3 counts TCP payload, so a perfect shaper shows ~0.955 (1398 payload bytes per 1464-byte frame at the pod MTU 1450).',
        'Userspace datapath (datapath_type=netdev) on a shared 2-core VM: when the unlimited path is slower than ~1.25x a limit, that case measures the machine, not the limiter.',
      ],
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await cluster?.teardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
