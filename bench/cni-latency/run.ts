// CNI latency benchmark (issue 2): the real dist/loom-cni against a real loom-agent + OVS (netdev)
// in a loomt-bench node namespace, and Debian's bridge + host-local plugins in a second node
// namespace, driven identically in the same run:
//   warm-up pod (not counted) -> 100 sequential ADDs -> 50 concurrent ADDs -> sequential ADDs up to
//   200 pods -> agent RSS -> sequential DELs of every pod (pods 1..100 first).
// Sequential calls alternate Loom / bridge pod by pod so machine noise hits both alike.
// Pod netns creation is outside the timed section. Writes bench/results/cni-latency.json.
//   node --import tsx bench/cni-latency/run.ts        (root; after npm run build)
// Env: SEQUENTIAL (100), CONCURRENT (50), TOTAL_PODS (200).
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { createPodNetns, LOOM_CNI, startAgentNode, type AgentNode } from '../../node-agent/test/support/agent-node.js';
import { deleteNetns, isRoot } from '../../node-agent/test/support/netns.js';
import { metric, machineNow, roundTo, writeResult, type BenchResult, type Metric } from '../lib/result.js';
import { median, quantile } from '../lib/stats.js';
import { agentPid, cniDurationTotals, lastRequestMs, rssMB, scrapeMetrics, type VerbTotals } from './agent-probe.js';
import { startBridgeNode, type BridgeNode } from './bridge-node.js';
import { pluginInNetns, wrapperMs, type Plugin, type PluginCall } from './plugin-exec.js';
import { buildTrivialSea, type TrivialSea } from './trivial-sea.js';
import { openOvsFloor, type OvsFloor } from './ovs-floor.js';

const METRICS_PORT = 9469; // inside the fresh node netns, so always free
const LOOM_POD_CIDR = '10.244.0.0/24';
const BRIDGE_SUBNET = '10.245.0.0/24';
const STARTUP_SAMPLES = 20;
/** Agent-side growth is judged on 11 ADDs around each node size. */
const GROWTH_WINDOW = 5;

function envInt(name: string, dflt: number, min: number, max: number): number {
  const raw = process.env[name];
  const v = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name}=${raw} must be an integer in ${min}..${max}`);
  return v;
}

const k8sArgs = (pod: string) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=cid-${pod};K8S_POD_UID=uid-${pod}`;

interface Side {
  label: 'loom' | 'bridge';
  plugin: Plugin;
  config: Record<string, unknown>;
  podNetnsPrefix: string;
  /** pod index -> ADD result IP */
  ips: Map<number, string>;
}

function call(side: Side, verb: 'ADD' | 'DEL', i: number): PluginCall {
  const pod = `${side.label}-${i}`;
  return { verb, containerId: `cid-${pod}`, netns: `/var/run/netns/${side.podNetnsPrefix}${i}`, ifname: 'eth0', args: k8sArgs(pod), config: side.config };
}

async function timedCall(side: Side, verb: 'ADD' | 'DEL', i: number): Promise<number> {
  const r = await side.plugin.exec(call(side, verb, i));
  if (r.exitCode !== 0) throw new Error(`${side.label} ${verb} of pod ${i} failed (exit ${r.exitCode}): ${r.stdout}`);
  if (verb === 'DEL') side.ips.delete(i);
  if (verb === 'ADD') {
    if (!r.ip) throw new Error(`${side.label} ADD of pod ${i} returned no IP: ${r.stdout}`);
    side.ips.set(i, r.ip);
  }
  return r.ms;
}

function summary(xs: number[]): string {
  return `p50 ${roundTo(median(xs), 1)} ms, p99 ${roundTo(quantile(xs, 0.99), 1)} ms (n=${xs.length})`;
}

async function main(): Promise<void> {
  if (!isRoot()) throw new Error('the CNI latency benchmark needs root (network namespaces, OVS): run it as root');
  const SEQUENTIAL = envInt('SEQUENTIAL', 100, 1, 250);
  const CONCURRENT = envInt('CONCURRENT', 50, 1, 250);
  const TOTAL = envInt('TOTAL_PODS', 200, SEQUENTIAL + CONCURRENT, 250);
  const machine = machineNow();
  const started = new Date().toISOString();
  const run = randomBytes(3).toString('hex');
  const nodeNs = `loomt-bench-node-${run}`;
  const bridgeNs = `loomt-bench-br-${run}`;
  const podNetns: string[] = [];
  let node: AgentNode | undefined;
  let bridge: BridgeNode | undefined;
  let sea: TrivialSea | undefined;
  let floor: OvsFloor | undefined;
  const log = (s: string) => console.error(`[cni-latency] ${s}`);

  // No cleanupLeftovers() here: it also removes other runs' old temporary directories (a long demo's).
  try {
    node = await startAgentNode({ name: nodeNs, podCidr: LOOM_POD_CIDR, extraArgs: ['--metrics-port', String(METRICS_PORT), '--metrics-bind-address', '127.0.0.1', '--log-level', 'info'] });
    bridge = await startBridgeNode(bridgeNs, BRIDGE_SUBNET);
    const loom: Side = { label: 'loom', plugin: pluginInNetns('loom', nodeNs, LOOM_CNI, '/opt/cni/bin'), config: node.netConf(), podNetnsPrefix: `loomt-bench-${run}-l`, ips: new Map() };
    const br: Side = { label: 'bridge', plugin: bridge.plugin, config: bridge.config, podNetnsPrefix: `loomt-bench-${run}-b`, ips: new Map() };
    const sides = [loom, br];
    sea = await buildTrivialSea();
    const seaPlugin = pluginInNetns('trivial-sea', nodeNs, sea.path, '/opt/cni/bin');
    floor = await openOvsFloor(nodeNs, node.ovs.dbSock, 'netdev');
    const floorMs = { small: [] as number[], large: [] as number[] };
    const makePods = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) {
        for (const s of sides) {
          const name = `${s.podNetnsPrefix}${i}`;
          podNetns.push(name);
          await createPodNetns(name);
        }
      }
    };
    let addTotals: VerbTotals = cniDurationTotals(await scrapeMetrics(nodeNs, METRICS_PORT), 'ADD');
    let delTotals: VerbTotals = cniDurationTotals(await scrapeMetrics(nodeNs, METRICS_PORT), 'DEL');
    const agentAdd = new Map<number, number>(); // pod index -> agent-side ms
    const agentDel: number[] = [];
    const lat = { loomAdd: [] as number[], bridgeAdd: [] as number[], loomDel: [] as number[], bridgeDel: [] as number[], loomAddConc: [] as number[], bridgeAddConc: [] as number[], seaSeq: [] as number[] };

    // Start-up cost of each executable and of the netns wrapper, interleaved.
    const startup = { loom: [] as number[], bridge: [] as number[], wrapper: [] as number[], sea: [] as number[] };
    const versionCall = (s: Side): PluginCall => ({ verb: 'VERSION', containerId: 'version', netns: '', ifname: 'eth0', args: '', config: s.config });
    for (let k = 0; k < STARTUP_SAMPLES; k++) {
      startup.loom.push((await loom.plugin.exec(versionCall(loom))).ms);
      startup.bridge.push((await br.plugin.exec(versionCall(br))).ms);
      startup.wrapper.push(await wrapperMs(nodeNs));
      startup.sea.push((await seaPlugin.exec(versionCall(loom))).ms);
    }
    log(`VERSION loom ${summary(startup.loom)}; bridge ${summary(startup.bridge)}; ip netns exec /bin/true ${summary(startup.wrapper)}; trivial Node SEA ${summary(startup.sea)}`);

    const seqAdd = async (i: number) => {
      const counted = i > 0 && i <= SEQUENTIAL;
      const ms = await timedCall(loom, 'ADD', i);
      const a = await lastRequestMs(nodeNs, METRICS_PORT, 'ADD', addTotals);
      addTotals = a.totals;
      if (i > 0) agentAdd.set(i, a.ms);
      const bms = await timedCall(br, 'ADD', i);
      const sms = (await seaPlugin.exec(versionCall(loom))).ms;
      if (counted) {
        lat.loomAdd.push(ms);
        lat.bridgeAdd.push(bms);
        lat.seaSeq.push(sms);
      }
    };
    const seqDel = async (i: number, record: boolean) => {
      const ms = await timedCall(loom, 'DEL', i);
      const d = await lastRequestMs(nodeNs, METRICS_PORT, 'DEL', delTotals);
      delTotals = d.totals;
      const bms = await timedCall(br, 'DEL', i);
      if (record) {
        lat.loomDel.push(ms);
        lat.bridgeDel.push(bms);
        agentDel.push(d.ms);
      }
    };

    // Warm-up pod 0 (caches, first OVS port), then removed.
    await makePods(0, 0);
    await seqAdd(0);
    await seqDel(0, false);

    log(`creating ${SEQUENTIAL} pod netns per side`);
    await makePods(1, SEQUENTIAL);
    for (let i = 1; i <= SEQUENTIAL; i++) {
      await seqAdd(i);
      if (i === 10) floorMs.small.push(...(await floor.sample(11)));
    }
    log(`sequential ADD: loom ${summary(lat.loomAdd)}; bridge ${summary(lat.bridgeAdd)}`);

    const concFrom = SEQUENTIAL + 1;
    const concTo = SEQUENTIAL + CONCURRENT;
    await makePods(concFrom, concTo);
    const concurrent = async (s: Side, into: number[]) => {
      const idx = Array.from({ length: CONCURRENT }, (_, k) => concFrom + k);
      const outcomes = await Promise.all(idx.map((i) => s.plugin.exec(call(s, 'ADD', i))));
      let ok = 0;
      outcomes.forEach((r, k) => {
        into.push(r.ms);
        if (r.exitCode === 0 && r.ip) {
          ok++;
          s.ips.set(idx[k] as number, r.ip);
        } else log(`${s.label} concurrent ADD of pod ${idx[k]} failed (exit ${r.exitCode}): ${r.stdout}`);
      });
      return ok;
    };
    const loomConcOk = await concurrent(loom, lat.loomAddConc);
    addTotals = cniDurationTotals(await scrapeMetrics(nodeNs, METRICS_PORT), 'ADD');
    const bridgeConcOk = await concurrent(br, lat.bridgeAddConc);
    const loomIpsBeforeFill = loom.ips.size;
    const distinctLoomIps = new Set(loom.ips.values()).size;
    log(`concurrent ADD: loom ${loomConcOk}/${CONCURRENT} ok, ${summary(lat.loomAddConc)}; bridge ${bridgeConcOk}/${CONCURRENT} ok, ${summary(lat.bridgeAddConc)}`);

    await makePods(concTo + 1, TOTAL);
    for (let i = concTo + 1; i <= TOTAL; i++) await seqAdd(i);
    const podsOnNode = loom.ips.size;
    floorMs.large.push(...(await floor.sample(11)));
    log(`OVS port attach (same vswitchd, scratch bridge): ~10 pods ${summary(floorMs.small)}; ${podsOnNode} pods ${summary(floorMs.large)}`);
    const rss = await rssMB(await agentPid(nodeNs));
    log(`agent RSS with ${podsOnNode} pods: ${roundTo(rss, 1)} MB`);

    for (let i = 1; i <= TOTAL; i++) if (loom.ips.has(i) && br.ips.has(i)) await seqDel(i, i <= SEQUENTIAL);
    log(`sequential DEL: loom ${summary(lat.loomDel)}; bridge ${summary(lat.bridgeDel)}`);

    // Agent-side ADD time around 10 pods and around TOTAL pods on the node (pod i is added with i-1 there).
    const around = (pods: number) => [...agentAdd.entries()].filter(([i]) => Math.abs(i - 1 - pods) <= GROWTH_WINDOW).map(([, ms]) => ms);
    const agentSeq = [...agentAdd.entries()].filter(([i]) => i <= SEQUENTIAL).map(([, ms]) => ms);
    const small = median(around(10));
    const large = median(around(TOTAL - 1 - GROWTH_WINDOW));
    const largeLabel = TOTAL - GROWTH_WINDOW - 1;
    const wrapperP50 = median(startup.wrapper);

    const p50 = median;
    const p99 = (xs: number[]) => quantile(xs, 0.99);
    const metrics: Metric[] = [
      metric('Loom ADD p50 (sequential)', p50(lat.loomAdd), 'ms', { max: 45 }),
      metric('Loom ADD p99 (sequential)', p99(lat.loomAdd), 'ms', { max: 120 }),
      metric('Loom DEL p50', p50(lat.loomDel), 'ms', { max: 40 }),
      metric('Loom DEL p99', p99(lat.loomDel), 'ms'),
      metric('bridge ADD p50 (sequential)', p50(lat.bridgeAdd), 'ms'),
      metric('bridge ADD p99 (sequential)', p99(lat.bridgeAdd), 'ms'),
      metric('bridge DEL p50', p50(lat.bridgeDel), 'ms'),
      metric('bridge DEL p99', p99(lat.bridgeDel), 'ms'),
      metric('ADD p50 Loom / bridge', p50(lat.loomAdd) / p50(lat.bridgeAdd), 'ratio'),
      metric('ADD p99 Loom / bridge', p99(lat.loomAdd) / p99(lat.bridgeAdd), 'ratio'),
      metric('DEL p50 Loom / bridge', p50(lat.loomDel) / p50(lat.bridgeDel), 'ratio'),
      metric('DEL p99 Loom / bridge', p99(lat.loomDel) / p99(lat.bridgeDel), 'ratio'),
      metric(`Loom concurrent ADDs succeeded (of ${CONCURRENT})`, loomConcOk, 'count', { min: CONCURRENT }),
      metric(`Loom distinct pod IPs (of ${loomIpsBeforeFill} pods after the burst)`, distinctLoomIps, 'count', { min: loomIpsBeforeFill }),
      metric(`Loom ADD p99, ${CONCURRENT} concurrent`, p99(lat.loomAddConc), 'ms', { max: 1000 }),
      metric(`bridge ADD p99, ${CONCURRENT} concurrent`, p99(lat.bridgeAddConc), 'ms'),
      metric(`concurrent ADD p99 Loom / bridge`, p99(lat.loomAddConc) / p99(lat.bridgeAddConc), 'ratio'),
      metric('agent-side ADD p50 (sequential)', p50(agentSeq), 'ms', { max: 15 }, 'loom_cni_request_duration_seconds, one request at a time'),
      metric('agent-side ADD p50 around 10 pods', small, 'ms', undefined, `ADDs made with ${10 - GROWTH_WINDOW}..${10 + GROWTH_WINDOW} pods on the node`),
      metric(`agent-side ADD p50 around ${largeLabel} pods`, large, 'ms', undefined, `ADDs made with ${largeLabel - GROWTH_WINDOW}..${largeLabel + GROWTH_WINDOW} pods on the node`),
      metric(`agent-side ADD growth, 10 -> ${largeLabel} pods`, (large / small - 1) * 100, '%', { max: 20 }),
      metric('agent-side DEL p50', p50(agentDel), 'ms'),
      metric(`agent RSS with ${podsOnNode} pods`, rss, 'MB', { max: 150 }, 'VmRSS of the loom-agent process'),
      metric('loom-cni VERSION p50 (start-up)', p50(startup.loom), 'ms', undefined, 'no agent round trip'),
      metric('bridge VERSION p50 (start-up)', p50(startup.bridge), 'ms'),
      metric('ip netns exec /bin/true p50', wrapperP50, 'ms', undefined, 'included in every sample above, for both plugins'),
      metric('Loom ADD p50 minus the netns wrapper (approx.)', p50(lat.loomAdd) - wrapperP50, 'ms'),
      metric('Loom DEL p50 minus the netns wrapper (approx.)', p50(lat.loomDel) - wrapperP50, 'ms'),
      metric('trivial Node SEA p50 (reads stdin, prints JSON)', p50(startup.sea), 'ms', undefined, 'the start-up floor of any Node CNI plugin here; the issue assumed ~22 ms'),
      // The issue's budget is 45 ms for ADD with a 22 ms start-up floor: 23 ms above the floor.
      metric('trivial Node SEA p50 during the sequential ADDs', p50(lat.seaSeq), 'ms', undefined, 'one run after each Loom/bridge ADD pair, so it sees the same machine noise'),
      metric('Loom ADD p50 above the trivial SEA', p50(lat.loomAdd) - p50(lat.seaSeq), 'ms', { max: 23 }, 'ADD p50 minus the interleaved trivial SEA p50 (both include the netns wrapper); budget 45 - 22 ms from the issue'),
      metric('Loom DEL p50 above the trivial SEA', p50(lat.loomDel) - p50(lat.seaSeq), 'ms', { max: 18 }, 'budget 40 - 22 ms from the issue'),
      metric('OVS port attach p50 around 10 pods', p50(floorMs.small), 'ms', undefined, 'ovs-vswitchd attaching a veth to a scratch bridge of the same netdev datapath (native OVSDB, as the agent)'),
      metric(`OVS port attach p50 with ${podsOnNode} pods`, p50(floorMs.large), 'ms'),
      metric(`agent-side ADD growth minus OVS port attach growth, 10 -> ${largeLabel} pods`, ((large - (p50(floorMs.large) - p50(floorMs.small))) / small - 1) * 100, '%', undefined, 'the agent-side growth if ovs-vswitchd attached ports as fast with 200 pods as with 10'),
    ];
    const result: BenchResult = {
      name: 'cni-latency',
      command: `${['SEQUENTIAL', 'CONCURRENT', 'TOTAL_PODS'].filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]} `).join('')}node --import tsx bench/cni-latency/run.ts`,
      date: started,
      machine: { ...machine, loadEnd: loadavg().map((x) => roundTo(x)) },
      metrics,
      series: {
        'loom.add.ms': lat.loomAdd.map((x) => roundTo(x)),
        'bridge.add.ms': lat.bridgeAdd.map((x) => roundTo(x)),
        'loom.del.ms': lat.loomDel.map((x) => roundTo(x)),
        'bridge.del.ms': lat.bridgeDel.map((x) => roundTo(x)),
        'loom.add.concurrent.ms': lat.loomAddConc.map((x) => roundTo(x)),
        'bridge.add.concurrent.ms': lat.bridgeAddConc.map((x) => roundTo(x)),
        'agent.add.ms': [...agentAdd.entries()].sort((a, b) => a[0] - b[0]).map(([, ms]) => roundTo(ms)),
        'agent.del.ms': agentDel.map((x) => roundTo(x)),
        'trivial-sea.ms': lat.seaSeq.map((x) => roundTo(x)),
        'ovs-attach.10.ms': floorMs.small.map((x) => roundTo(x)),
        'ovs-attach.large.ms': floorMs.large.map((x) => roundTo(x)),
      },
      charts: [
        { id: 'cni-add-latency', title: `CNI ADD latency, ${SEQUENTIAL} sequential pods: Loom vs bridge vs a trivial Node SEA`, kind: 'cdf', unit: 'ms', series: ['loom.add.ms', 'bridge.add.ms', 'trivial-sea.ms'] },
        { id: 'cni-del-latency', title: `CNI DEL latency, ${SEQUENTIAL} pods: Loom vs bridge`, kind: 'cdf', unit: 'ms', series: ['loom.del.ms', 'bridge.del.ms'] },
        { id: 'cni-add-concurrent', title: `CNI ADD latency, ${CONCURRENT} concurrent: Loom vs bridge`, kind: 'cdf', unit: 'ms', series: ['loom.add.concurrent.ms', 'bridge.add.concurrent.ms'] },
        { id: 'agent-add-by-pods', title: `Agent-side time per sequential ADD (samples 1-${SEQUENTIAL}: pods 1-${SEQUENTIAL}; then pods ${concTo + 1}-${TOTAL})`, kind: 'line', unit: 'ms', series: ['agent.add.ms'] },
      ],
      notes: [
        `Each sample is the wall time of \`ip netns exec NODE PLUGIN\` from spawn to exit, measured the same way for dist/loom-cni and /usr/lib/cni/bridge (loopback not run for either); pod netns creation is not timed.`,
        `Sequential ADDs alternate Loom and bridge pod by pod; one warm-up ADD+DEL per plugin is not counted. DEL figures are the DELs of pods 1..${SEQUENTIAL} (with ${TOTAL}..${TOTAL - SEQUENTIAL + 1} pods on the node).`,
        `Agent-side times come from the loom_cni_request_duration_seconds histogram sum, read after every sequential request (curl on 127.0.0.1 inside the node netns).`,
        `Baseline: bridge "cni0", isGateway, no ipMasq, host-local IPAM (dataDir in a temporary directory); Loom: agent with OVS netdev datapath, standalone (kubeconfig none).`,
      ],
    };
    const file = await writeResult(result);
    log(`wrote ${file}`);
    for (const m of metrics) log(`${m.pass === false ? 'FAIL' : m.pass ? 'pass' : '    '} ${m.name}: ${m.value} ${m.unit}`);
  } finally {
    for (const ns of podNetns) await deleteNetns(ns);
    await node?.destroy();
    await bridge?.destroy();
    await sea?.remove();
    await floor?.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
