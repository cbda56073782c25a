// Datapath benchmark (issue 4): single-stream TCP (iperf3) and ping RTT, pod to pod on one node and
// across nodes, on Loom's pipeline (e2e harness: real agents, OVS userspace datapath, VXLAN) and on a
// plain OVS baseline (NORMAL bridge + plain VXLAN port, same datapath, built in plain-ovs.ts) in the
// same run, interleaved. Then the loss when a new remote node appears. Writes
// bench/results/datapath.json and prints a summary table (stderr). Needs root and `npm run build`.
//   node --import tsx bench/datapath/run.ts            (about 4-5 minutes)
//   DPB_REPS=3 node --import tsx bench/datapath/run.ts (fewer interleaved rounds; default 5)
import { loadavg } from 'node:os';
import { startCluster, type Cluster } from '../../e2e/lib/cluster.js';
import { newClusterPrefix } from '../../e2e/lib/names.js';
import { isRoot } from '../../node-agent/test/support/netns.js';
import { machineNow, metric, roundTo, writeResult, type BenchResult, type Metric } from '../lib/result.js';
import { median } from '../lib/stats.js';
import { addClusterNode, pingNewNode, type NewNodeOutcome } from './new-node.js';
import { PLAIN_PREFIX, POD_MTU, startPlainSetup, type PlainSetup } from './plain-ovs.js';
import { medianRttMs, tcpGbps, warmUp, type Endpoint } from './probes.js';

const COMMAND = 'node --import tsx bench/datapath/run.ts';
const CLUSTER_ROOT = `${PLAIN_PREFIX}k-`;
const TARGET_RATIO = { same: 0.9, cross: 0.85 } as const;
const MAX_NEW_NODE_LOSS = 1;

type Scenario = 'same' | 'cross';
type Side = 'loom' | 'plain';
interface Pair { from: Endpoint; to: Endpoint }
type Pairs = Record<Side, Record<Scenario, Pair>>;
/** samples[side][scenario] */
type Samples = Record<Side, Record<Scenario, number[]>>;

const log = (line: string): void => void process.stderr.write(`[datapath] ${line}\n`);
const emptySamples = (): Samples => ({ loom: { same: [], cross: [] }, plain: { same: [], cross: [] } });

function repsFromEnv(): number {
  const text = process.env.DPB_REPS ?? '5';
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 20) throw new Error(`DPB_REPS must be an integer 1..20, got "${text}"`);
  return n;
}

async function podMtu(c: Cluster, e: Endpoint): Promise<number> {
  const pod = c.pods().find((p) => p.netns === e.netns);
  if (!pod) throw new Error(`no Loom pod in ${e.netns}`);
  const out = await c.exec(pod, 'cat', ['/sys/class/net/eth0/mtu']);
  return Number(out.stdout.trim());
}

/** Loom, plain, Loom, plain...; the side that goes first alternates per round to cancel drift. */
async function measureInterleaved(pairs: Pairs, reps: number): Promise<{ tcp: Samples; rtt: Samples }> {
  const tcp = emptySamples();
  const rtt = emptySamples();
  for (let r = 0; r < reps; r++) {
    const order: Side[] = r % 2 === 0 ? ['loom', 'plain'] : ['plain', 'loom'];
    for (const scenario of ['same', 'cross'] as const) {
      for (const side of order) {
        const { from, to } = pairs[side][scenario];
        const gbps = await tcpGbps(from, to);
        const ms = await medianRttMs(from, to);
        tcp[side][scenario].push(gbps);
        rtt[side][scenario].push(ms);
        log(`round ${r + 1}/${reps} ${scenario}-node ${side.padEnd(5)} ${gbps.toFixed(2)} Gbit/s, RTT ${ms.toFixed(3)} ms`);
      }
    }
  }
  return { tcp, rtt };
}

function summaryTable(metrics: Metric[]): string {
  const rows = metrics.map((m) => {
    const target = m.target ? [m.target.min !== undefined ? `>= ${m.target.min}` : '', m.target.max !== undefined ? `<= ${m.target.max}` : ''].filter(Boolean).join(' ') : '';
    const verdict = m.pass === undefined ? '' : m.pass ? 'PASS' : 'FAIL';
    return [m.name, `${m.value} ${m.unit}`, target, verdict];
  });
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['metric', 'value', 'target', ''], ...rows].map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [fmt(['metric', 'value', 'target', '']), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

function buildMetrics(tcp: Samples, rtt: Samples, newNode: NewNodeOutcome): Metric[] {
  const out: Metric[] = [];
  for (const scenario of ['same', 'cross'] as const) {
    const label = scenario === 'same' ? 'same node' : 'cross node';
    const loomTcp = median(tcp.loom[scenario]);
    const plainTcp = median(tcp.plain[scenario]);
    const loomRtt = median(rtt.loom[scenario]);
    const plainRtt = median(rtt.plain[scenario]);
    out.push(
      metric(`TCP ${label}, Loom`, loomTcp, 'Gbit/s'),
      metric(`TCP ${label}, plain OVS`, plainTcp, 'Gbit/s'),
      metric(`TCP ratio Loom/plain, ${label}`, loomTcp / plainTcp, 'ratio', { min: TARGET_RATIO[scenario] }, 'median single-stream throughput, Loom over plain OVS'),
      metric(`RTT ${label}, Loom`, loomRtt, 'ms'),
      metric(`RTT ${label}, plain OVS`, plainRtt, 'ms'),
      metric(`RTT ratio plain/Loom, ${label}`, plainRtt / loomRtt, 'ratio', { min: TARGET_RATIO[scenario] }, 'median ping RTT, plain over Loom (1 = no added latency)'),
    );
  }
  out.push(
    metric('pings lost when a new remote node appears', newNode.lost, 'count', { max: MAX_NEW_NODE_LOSS },
      `${newNode.sent} pings at 50/s from a node-1 pod to a pod on a just-added node 3${newNode.lostSeqs.length ? `; lost icmp_seq ${newNode.lostSeqs.slice(0, 10).join(',')}` : ''}`),
  );
  return out;
}

async function main(): Promise<void> {
  if (!isRoot()) throw new Error('the datapath benchmark needs root (network namespaces, OVS): run it with sudo');
  const reps = repsFromEnv();
  const machine = machineNow();
  const date = new Date().toISOString();
  let cluster: Cluster | undefined;
  let plain: PlainSetup | undefined;
  const cleanup = async (): Promise<void> => {
    await Promise.all([cluster?.teardown(), plain?.teardown()].map((p) => p?.catch((e: unknown) => log(`cleanup: ${(e as Error).message}`))));
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log('building the plain OVS baseline (loomt-dpb-*)');
    plain = await startPlainSetup();
    log('starting a 2-node Loom cluster (e2e harness)');
    cluster = await startCluster({ nodes: 2, prefixRoot: CLUSTER_ROOT, prefix: newClusterPrefix(CLUSTER_ROOT), log });
    const [a1, a2, b1] = await Promise.all([
      cluster.createPod({ namespace: 'dpb', name: 'a1', node: 1, serve: false }),
      cluster.createPod({ namespace: 'dpb', name: 'a2', node: 1, serve: false }),
      cluster.createPod({ namespace: 'dpb', name: 'b1', node: 2, serve: false }),
    ]);
    const pairs: Pairs = {
      loom: { same: { from: a1, to: a2 }, cross: { from: a1, to: b1 } },
      plain: { same: { from: plain.pod(1, 1), to: plain.pod(1, 2) }, cross: { from: plain.pod(1, 1), to: plain.pod(2, 1) } },
    };
    const loomMtu = await podMtu(cluster, a1);
    if (loomMtu !== POD_MTU) log(`note: Loom's pod MTU is ${loomMtu}, the baseline's ${POD_MTU}`);
    for (const side of ['loom', 'plain'] as const) for (const s of ['same', 'cross'] as const) await warmUp(pairs[side][s].from, pairs[side][s].to);

    log(`measuring: ${reps} interleaved rounds of iperf3 (5 s, first second omitted) and 30 pings at 20/s`);
    const { tcp, rtt } = await measureInterleaved(pairs, reps);

    log('new remote node: adding node 3 and a pod on it, then pinging it at 50/s from node 1');
    await addClusterNode(cluster, 3);
    const c1 = await cluster.createPod({ namespace: 'dpb', name: 'c1', node: 3, serve: false });
    const newNode = await pingNewNode(a1, c1);

    const metrics = buildMetrics(tcp, rtt, newNode);
    const result: BenchResult = {
      name: 'datapath',
      command: COMMAND,
      date,
      machine: { ...machine, loadEnd: loadavg().map((x) => roundTo(x)) },
      metrics,
      series: Object.fromEntries((['loom', 'plain'] as const).flatMap((side) => (['same', 'cross'] as const).flatMap((s) => [
        [`${side}.${s}.tcp.gbps`, tcp[side][s].map((x) => roundTo(x, 3))],
        [`${side}.${s}.rtt.ms`, rtt[side][s].map((x) => roundTo(x, 3))],
      ])).concat((['same', 'cross'] as const).map((s) => [`ratio.${s}.tcp.per-round`, tcp.loom[s].map((x, i) => roundTo(x / (tcp.plain[s][i] ?? Number.NaN), 3))]))),
      charts: [{ id: 'tcp', title: 'Single-stream TCP, median (Gbit/s)', kind: 'bar', unit: 'Gbit/s', metrics: metrics.filter((m) => m.unit === 'Gbit/s').map((m) => m.name) }],
      notes: [
        `Both sides run on the same machine in the same run on the OVS userspace (netdev) datapath, pod MTU ${POD_MTU} (Loom's: ${loomMtu}), pod tx checksum offload off; ${reps} rounds interleaved Loom/plain (alternating which goes first); values are medians.`,
        'Plain OVS = one bridge with the default NORMAL flow and a plain VXLAN port (remote_ip fixed, key 1), node IP on br-phy as Loom does; it measures the cost of Loom\'s pipeline (spoofguard, conntrack, policy tables, flow-based tunnel).',
        'The userspace datapath is CPU-bound in one thread per node on a 2-core VM shared with other jobs: compare ratios, not absolute figures (see machine.load).',
        `New remote node: node 3 is registered and its agent started while nodes 1-2 run; as soon as a pod exists there, node 1 pings it ${newNode.sent} times at 50/s. First reply: icmp_seq ${newNode.firstReplySeq ?? 'none'}.`,
      ],
    };
    const file = await writeResult(result);
    process.stderr.write(`\n${summaryTable(metrics)}\n\nload average ${machine.load.join(' ')} -> ${result.machine.loadEnd?.join(' ')}; wrote ${file}\n`);
  } finally {
    log('tearing down');
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((err: unknown) => {
  console.error(`datapath benchmark failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
