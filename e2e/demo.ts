// Loom demo: a 2-node simulated cluster, a connectivity matrix before and after a NetworkPolicy applied
// with the real kubectl, then teardown.
//   npm run demo            run it and tear down
//   npm run demo -- --keep  leave the cluster running (prints the kubeconfig and how to exec into pods)
//   npm run demo:down       tear a kept cluster down   (= tsx e2e/demo.ts --down)
// Needs root and `npm run build`. Everything is named loomt-demo-*; see docs/e2e.md.
import { execa } from 'execa';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isRoot } from '../node-agent/test/support/netns.js';
import { cleanupClusterLeftovers, transferOwnership } from './lib/cleanup.js';
import { startCluster, type Cluster } from './lib/cluster.js';
import { differences, formatMatrix, type PortProtocol, type TruthTable } from './lib/matrix.js';
import { DEMO_PREFIX_ROOT } from './lib/names.js';
import type { Pod, PodSpec } from './lib/pods.js';

const STATE_FILE = '/tmp/loomt-demo-state.json';
const POLICY_FILE = join(import.meta.dirname, 'demo', 'allow-api-to-db.yaml');
const TCP80: PortProtocol = { port: 80, protocol: 'TCP' };
const SERVE = [{ name: 'http', containerPort: 80, protocol: 'TCP' as const }];

// All pods that must talk sit on node 1; backend/cache on node 2 shows cross-node traffic.
const PODS: PodSpec[] = [
  { namespace: 'frontend', name: 'web', node: 1, labels: { app: 'web' }, containerPorts: SERVE },
  { namespace: 'frontend', name: 'api', node: 1, labels: { app: 'api' }, containerPorts: SERVE },
  { namespace: 'backend', name: 'db', node: 1, labels: { app: 'db' }, containerPorts: SERVE },
  { namespace: 'backend', name: 'cache', node: 2, labels: { app: 'cache' }, containerPorts: SERVE },
];

interface DemoState {
  keeperPid: number;
  prefix: string;
  kubeconfig: string;
  underlayNetns: string;
  pods: Array<{ key: string; netns: string; ip: string; node: string }>;
}

const say = (text = ''): void => void process.stdout.write(`${text}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `loomt-demo-<4 hex of the pid>-`: one demo at a time, but names never clash with a half-removed one. */
function demoPrefix(): string {
  return `${DEMO_PREFIX_ROOT}${process.pid.toString(16).slice(-4).padStart(4, '0')}-`;
}

async function down(): Promise<void> {
  const state = JSON.parse(await readFile(STATE_FILE, 'utf8').catch(() => 'null')) as DemoState | null;
  if (state) {
    try { process.kill(state.keeperPid, 'SIGKILL'); } catch { /* already gone */ }
    // the keeper may linger as a zombie (still "alive" to kill(0)): take the cluster over before cleaning
    await transferOwnership(state.prefix, process.pid);
  }
  await cleanupClusterLeftovers(DEMO_PREFIX_ROOT);
  await rm(STATE_FILE, { force: true });
  say(state ? `demo cluster ${state.prefix}* removed` : 'no kept demo cluster found; removed any loomt-demo-* leftovers');
}

/** Probes until the matrix differs from `before` (policy realized) or `ms` passes; returns the last one. */
async function matrixAfterChange(cluster: Cluster, pods: Pod[], before: TruthTable, ms: number): Promise<TruthTable> {
  const until = Date.now() + ms;
  let last: TruthTable;
  do {
    [last] = (await cluster.probeMatrix(pods, [TCP80], { timeoutMs: 700, retries: 0 })) as [TruthTable];
    if (differences(before, last).length > 0) return last;
    await sleep(300);
  } while (Date.now() < until);
  return last;
}

async function run(keep: boolean): Promise<void> {
  const t0 = Date.now();
  say('Loom demo: a simulated 2-node Kubernetes cluster (network namespaces, one OVS + loom-agent per node)');
  say('and a test double of kube-apiserver, driven with the real kubectl. Needs root; nothing leaves the');
  say('loomt-demo-* namespaces.\n');
  const cluster = await startCluster({ nodes: 2, prefix: demoPrefix(), prefixRoot: DEMO_PREFIX_ROOT, keepProcessesOnExit: keep, log: (l) => say(`  ${l}`) });
  let kept = false;
  const onSignal = (): void => {
    say('\ninterrupted: tearing down');
    void cluster.teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const pods: Pod[] = [];
    for (const spec of PODS) pods.push(await cluster.createPod(spec));
    say(`\ncluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s. $ kubectl get pods -A -o wide`);
    say((await cluster.kubectl(['get', 'pods', '-A', '-o', 'wide'])).stdout);

    say('\n1) Connectivity before any NetworkPolicy (every pod opens TCP port 80 of every pod):\n');
    const [before] = (await cluster.probeMatrix(pods, [TCP80], { timeoutMs: 700, retries: 1 })) as [TruthTable];
    say(formatMatrix(before));
    const crossNode = pods.filter((p) => p.node.index !== 1);
    if (pods.some((from) => crossNode.some((to) => to !== from && !before.allowed[pods.indexOf(from)]![pods.indexOf(to)]))) {
      say('\nnote: traffic between the two nodes is blocked in this build (the overlay is not complete yet).');
    }

    say(`\n2) $ kubectl apply -f ${POLICY_FILE}\n`);
    say((await readFile(POLICY_FILE, 'utf8')).split('\n').filter((l) => !l.startsWith('#')).join('\n').trim());
    const policy = await readFile(POLICY_FILE, 'utf8');
    say(`\n${(await cluster.kubectl(['apply', '-f', '-'], { input: policy })).stdout.trim()}`);

    say('\n3) Connectivity after the policy (probing for up to 10 s until something changes):\n');
    const after = await matrixAfterChange(cluster, pods, before, 10000);
    say(formatMatrix(after, before));
    const changed = differences(before, after);
    if (changed.length === 0) {
      say('\nnothing changed within 10 s: this build of loom-agent does not enforce NetworkPolicy yet.');
    } else {
      say('\nwhat changed:');
      for (const d of changed) say(`  ${d.from} -> ${d.to}: ${d.before ? 'reached' : 'blocked'} => ${d.after ? 'reached' : 'blocked'}`);
    }

    if (keep) {
      const keeper = execa('sleep', ['infinity'], { detached: true, cleanup: false, stdio: 'ignore', reject: false });
      keeper.unref();
      if (keeper.pid === undefined) throw new Error('could not start the keeper process that owns the kept cluster');
      await cluster.handOver(keeper.pid);
      const state: DemoState = {
        keeperPid: keeper.pid, prefix: cluster.prefix, kubeconfig: cluster.kubeconfig, underlayNetns: cluster.underlayNetns,
        pods: pods.map((p) => ({ key: p.key, netns: p.netns, ip: p.ip, node: p.node.name })),
      };
      await writeFile(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
      kept = true;
      say('\nThe cluster keeps running (--keep). Try your own policies:');
      say(`  kubeconfig: ${cluster.kubeconfig}  (server https://10.0.0.2:6443, reachable from the underlay namespace)`);
      say(`  kubectl:    sudo ip netns exec ${cluster.underlayNetns} kubectl --kubeconfig ${cluster.kubeconfig} get pods -A -o wide`);
      say('  pods (each serves TCP 80 and answers with its name):');
      for (const p of pods) say(`    ${p.key.padEnd(16)} ${p.ip.padEnd(12)} on ${p.node.name}:  sudo ip netns exec ${p.netns} sh`);
      say(`  e.g.       sudo ip netns exec ${pods[0]!.netns} nc -w 1 ${pods[2]!.ip} 80`);
      say(`  state:     ${STATE_FILE}`);
      say('  tear down: npm run demo:down   (or: npx tsx e2e/demo.ts --down)');
    }
  } finally {
    if (!kept) {
      await cluster.teardown();
      say(`\ntorn down; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
}

const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false }, down: { type: 'boolean', default: false } }, strict: true });
if (!isRoot()) {
  process.stderr.write('the demo needs root (network namespaces, OVS): run it with sudo\n');
  process.exit(1);
}
try {
  if (values.down) await down();
  else {
    if (await readFile(STATE_FILE, 'utf8').then(() => true, () => false)) {
      say(`a kept demo cluster exists (${STATE_FILE}): removing it first`);
      await down();
    }
    await run(values.keep);
  }
  process.exit(0);
} catch (e) {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exit(1);
}
