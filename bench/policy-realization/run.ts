// NetworkPolicy realization latency on the e2e harness (2 nodes, real loom-agents, real kubectl):
//  1. deny: `kubectl apply -f deny-server.yaml` (server pod on node 2 isolated) until a client pod
//     on node 1 can no longer open connections to it; then `kubectl delete` and wait until allowed.
//  2. new pod: with allow-new.yaml in force (client egress only to app=new, app=new ingress only from
//     the client), create a pod app=new on node 2; time from createPod's return until the client's
//     first successful connection to it; then delete the pod.
// A prober inside the client pod opens a fresh TCP connection every 20 ms (timeout 500 ms) and
// reports each attempt; "blocked" = the first failed attempt started after the apply that is followed
// only by failures (3 more), "reachable" = the first successful attempt.
// Writes bench/results/policy-realization.json.
//   node --import tsx bench/policy-realization/run.ts          (root; after npm run build)
// Env: ITERATIONS (50), WARMUP (2), NODES (2).
import { execa, type ResultPromise } from 'execa';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startCluster, type Cluster } from '../../e2e/lib/cluster.js';
import { ApiRequestError } from '../../e2e/lib/api-client.js';
import type { Pod } from '../../e2e/lib/pods.js';
import { createPodRetryingNetnsRace } from '../../e2e/netpol/model.js';
import { isRoot } from '../../node-agent/test/support/netns.js';
import { BENCH_DIR, machineNow, metric, roundTo, writeResult, type BenchResult } from '../lib/result.js';
import { quantile } from '../lib/stats.js';

const HERE = join(BENCH_DIR, 'policy-realization');
const REPO = join(BENCH_DIR, '..');
const DETECT_TIMEOUT_MS = 10000;
const STABLE_FAILURES = 3;
const PROBE_INTERVAL_MS = 20;
const PROBE_TIMEOUT_MS = 500;

function envInt(name: string, dflt: number, min: number, max: number): number {
  const raw = process.env[name];
  const v = raw === undefined ? dflt : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name}=${raw} must be an integer in ${min}..${max}`);
  return v;
}

interface Attempt {
  t: number;
  ok: boolean;
  ms: number;
  ip: string;
}

/** The prober process in the client pod and every attempt it reported. */
class Prober {
  readonly attempts: Attempt[] = [];
  private constructor(private readonly proc: ResultPromise) {}

  static async start(client: Pod): Promise<Prober> {
    const proc = execa('ip', ['netns', 'exec', client.netns, process.execPath, '--import', 'tsx', join(HERE, 'prober.ts'),
      '--interval-ms', String(PROBE_INTERVAL_MS), '--timeout-ms', String(PROBE_TIMEOUT_MS)],
    { cwd: REPO, stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', reject: false, cleanup: true });
    const p = new Prober(proc);
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the prober in ${client.key} printed no ready line within 30 s`)), 30000);
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const o = JSON.parse(line) as Partial<Attempt> & { ready?: boolean };
        if (o.ready) {
          clearTimeout(timer);
          resolve();
        } else if (typeof o.t === 'number' && typeof o.ok === 'boolean') p.attempts.push(o as Attempt);
      });
      void proc.then((r) => reject(new Error(`the prober in ${client.key} exited (${r.exitCode ?? r.signal})`)));
    });
    await ready;
    return p;
  }

  /** Drops the attempts reported so far (each round looks only at its own). */
  forget(): void {
    this.attempts.length = 0;
  }

  target(ip: string | undefined, port = 80): void {
    this.proc.stdin!.write(ip ? JSON.stringify({ ip, port }) + '\n' : '{}\n');
  }

  private since(t0: number, ip: string): Attempt[] {
    return this.attempts.filter((a) => a.t >= t0 && a.ip === ip).sort((a, b) => a.t - b.t);
  }

  /** Start of the first attempt after t0 that failed and was followed only by failures (stable block). */
  async waitBlocked(t0: number, ip: string): Promise<number | undefined> {
    return this.waitFor(() => {
      const list = this.since(t0, ip);
      for (let i = 0; i + STABLE_FAILURES < list.length; i++) {
        if (!list[i]!.ok && list.slice(i + 1, i + 1 + STABLE_FAILURES).every((a) => !a.ok)) return list[i]!.t;
      }
      return undefined;
    });
  }

  /** Start of the first successful attempt after t0. */
  async waitReachable(t0: number, ip: string): Promise<number | undefined> {
    return this.waitFor(() => this.since(t0, ip).find((a) => a.ok)?.t);
  }

  private async waitFor(found: () => number | undefined): Promise<number | undefined> {
    const until = Date.now() + DETECT_TIMEOUT_MS + PROBE_TIMEOUT_MS;
    while (Date.now() < until) {
      const t = found();
      if (t !== undefined) return t;
      await new Promise((r) => setTimeout(r, 10));
    }
    return found();
  }

  async stop(): Promise<void> {
    this.proc.stdin!.end();
    this.proc.kill('SIGKILL');
    await this.proc;
  }
}

const wall = (): number => performance.timeOrigin + performance.now();

/**
 * When the API server stored a NetworkPolicy: polls the side door every 5 ms and returns the start
 * of the last GET that still found nothing (a lower bound, so latencies measured from it are upper bounds).
 */
async function whenStored(cluster: Cluster, namespace: string, name: string, timeoutMs: number): Promise<number | undefined> {
  const until = wall() + timeoutMs;
  let lastMiss = wall();
  while (wall() < until) {
    const start = wall();
    try {
      await cluster.api.get('networkpolicies', namespace, name);
      return lastMiss;
    } catch (e) {
      if (!(e instanceof ApiRequestError && e.code === 404)) throw e;
    }
    lastMiss = start;
    await new Promise((r) => setTimeout(r, 5));
  }
  return undefined;
}

interface Samples {
  denyFromKubectl: number[];
  denyAfterKubectl: number[];
  denyFromStored: number[];
  kubectlApply: number[];
  allowAfterDelete: number[];
  newPodReachable: number[];
  createPod: number[];
}

async function denyRound(cluster: Cluster, prober: Prober, server: Pod, s: Samples | undefined, timeouts: { deny: number }): Promise<void> {
  const file = join(HERE, 'deny-server.yaml');
  prober.forget();
  if ((await prober.waitReachable(wall(), server.ip)) === undefined) throw new Error(`${server.key} is not reachable before applying deny-server.yaml`);
  const t0 = wall();
  const storedPromise = whenStored(cluster, 'bench', 'deny-server', 60000);
  await cluster.kubectl(['apply', '-f', file]);
  const t1 = wall();
  const stored = await storedPromise;
  if (stored === undefined) throw new Error('kubectl apply returned but the API server does not have bench/deny-server');
  const blocked = await prober.waitBlocked(t0, server.ip);
  if (blocked === undefined) timeouts.deny++;
  const atDelete = wall();
  await cluster.kubectl(['delete', '-f', file]);
  const allowed = await prober.waitReachable(atDelete, server.ip);
  if (allowed === undefined) throw new Error(`${server.key} stayed blocked for ${DETECT_TIMEOUT_MS} ms after deleting deny-server`);
  if (!s) return;
  const b = blocked ?? t0 + DETECT_TIMEOUT_MS;
  s.denyFromKubectl.push(roundTo(b - t0, 1));
  s.denyAfterKubectl.push(roundTo(Math.max(0, b - t1), 1));
  s.denyFromStored.push(roundTo(Math.max(0, b - stored), 1));
  s.kubectlApply.push(roundTo(t1 - t0, 1));
  s.allowAfterDelete.push(roundTo(allowed - atDelete, 1));
}

async function newPodRound(cluster: Cluster, prober: Prober, i: number, s: Samples | undefined, timeouts: { newPod: number }): Promise<void> {
  prober.forget();
  const c0 = wall();
  const pod = await createPodRetryingNetnsRace(cluster, { namespace: 'bench', name: `new-${i}`, node: 2, labels: { app: 'new' }, containerPorts: [{ containerPort: 80 }] });
  const t0 = wall();
  prober.target(pod.ip);
  const reachable = await prober.waitReachable(t0, pod.ip);
  prober.target(undefined);
  if (reachable === undefined) timeouts.newPod++;
  await cluster.deletePod(pod);
  if (!s) return;
  s.newPodReachable.push(roundTo((reachable ?? t0 + DETECT_TIMEOUT_MS) - t0, 1));
  s.createPod.push(roundTo(t0 - c0, 1));
}

async function main(): Promise<void> {
  if (!isRoot()) throw new Error('the policy-realization benchmark needs root (network namespaces, OVS): run it with sudo');
  const iterations = envInt('ITERATIONS', 50, 1, 1000);
  const warmup = envInt('WARMUP', 2, 0, 20);
  const nodes = envInt('NODES', 2, 2, 5);
  const machine = machineNow();
  const date = new Date().toISOString();
  const log = (line: string): void => void process.stderr.write(`[policy-realization] ${line}\n`);
  const s: Samples = { denyFromKubectl: [], denyAfterKubectl: [], denyFromStored: [], kubectlApply: [], allowAfterDelete: [], newPodReachable: [], createPod: [] };
  const timeouts = { deny: 0, newPod: 0 };
  const cluster = await startCluster({ nodes, log });
  let prober: Prober | undefined;
  try {
    const [client, server] = await Promise.all([
      createPodRetryingNetnsRace(cluster, { namespace: 'bench', name: 'client', node: 1, labels: { app: 'client' } }),
      createPodRetryingNetnsRace(cluster, { namespace: 'bench', name: 'server', node: 2, labels: { app: 'server' }, containerPorts: [{ containerPort: 80 }] }),
    ]);
    prober = await Prober.start(client);
    prober.target(server.ip);
    log(`deny: ${warmup} warm-up + ${iterations} applications of deny-server.yaml (client ${client.node.name} -> server ${server.node.name})`);
    for (let i = 0; i < warmup + iterations; i++) {
      await denyRound(cluster, prober, server, i < warmup ? undefined : s, timeouts);
      if ((i + 1) % 10 === 0) log(`deny ${i + 1}/${warmup + iterations}`);
    }
    prober.target(undefined);
    await cluster.kubectl(['apply', '-f', join(HERE, 'allow-new.yaml')]);
    log(`new pod: ${warmup} warm-up + ${iterations} pods app=new on ${cluster.nodes[1]!.name}`);
    // let both nodes realize allow-new.yaml before the first pod (the policies, not their realization, are under test here)
    await new Promise((r) => setTimeout(r, 2000));
    for (let i = 0; i < warmup + iterations; i++) {
      await newPodRound(cluster, prober, i, i < warmup ? undefined : s, timeouts);
      if ((i + 1) % 10 === 0) log(`new pod ${i + 1}/${warmup + iterations}`);
    }
  } finally {
    await prober?.stop().catch(() => undefined);
    await cluster.teardown();
  }

  const p = (xs: number[], q: number): number => quantile(xs, q);
  const result: BenchResult = {
    name: 'policy-realization',
    command: 'node --import tsx bench/policy-realization/run.ts',
    date,
    machine: { ...machine, loadEnd: loadavg().map((x) => roundTo(x)) },
    metrics: [
      metric('deny: kubectl apply -> traffic blocked, p50', p(s.denyFromKubectl, 0.5), 'ms', { max: 300 }, 'from the start of `kubectl apply -f` (client on node 1, server on node 2)'),
      metric('deny: kubectl apply -> traffic blocked, p99', p(s.denyFromKubectl, 0.99), 'ms', { max: 1000 }),
      metric('deny: kubectl apply -> traffic blocked, max', Math.max(...s.denyFromKubectl), 'ms'),
      metric('deny: API server stored the policy -> traffic blocked, p50', p(s.denyFromStored, 0.5), 'ms', { max: 300 }, 'the part Loom is responsible for: informer event, compile, bundle on node 2 (store time polled every 5 ms)'),
      metric('deny: API server stored the policy -> traffic blocked, p99', p(s.denyFromStored, 0.99), 'ms', { max: 1000 }),
      metric('deny: kubectl exit -> traffic blocked, p50', p(s.denyAfterKubectl, 0.5), 'ms', undefined, 'the part after kubectl returned (0 when blocked before)'),
      metric('deny: kubectl exit -> traffic blocked, p99', p(s.denyAfterKubectl, 0.99), 'ms'),
      metric('kubectl apply duration, p50', p(s.kubectlApply, 0.5), 'ms', undefined, 'the kubectl process alone (start, discovery cache, GET + POST)'),
      metric('deny: applications not blocked within 10 s', timeouts.deny, 'count', { max: 0 }),
      metric('kubectl delete -> traffic allowed again, p50', p(s.allowAfterDelete, 0.5), 'ms'),
      metric('kubectl delete -> traffic allowed again, p99', p(s.allowAfterDelete, 0.99), 'ms'),
      metric('new pod: createPod return -> first successful connection, p50', p(s.newPodReachable, 0.5), 'ms', { max: 300 }, 'client (node 1, egress only to app=new) -> new pod (node 2, ingress only from the client)'),
      metric('new pod: createPod return -> first successful connection, p99', p(s.newPodReachable, 0.99), 'ms', { max: 1000 }),
      metric('new pod: createPod return -> first successful connection, max', Math.max(...s.newPodReachable), 'ms'),
      metric('new pod: not reachable within 10 s', timeouts.newPod, 'count', { max: 0 }),
      metric('createPod (CNI ADD + status + server start), p50', p(s.createPod, 0.5), 'ms'),
    ],
    series: {
      'deny.fromKubectl.ms': s.denyFromKubectl,
      'deny.afterKubectl.ms': s.denyAfterKubectl,
      'deny.fromStored.ms': s.denyFromStored,
      'kubectl.apply.ms': s.kubectlApply,
      'allowAfterDelete.ms': s.allowAfterDelete,
      'newPod.reachable.ms': s.newPodReachable,
      'createPod.ms': s.createPod,
    },
    charts: [
      { id: 'policy-realization-cdf', title: 'NetworkPolicy realization latency', kind: 'cdf', unit: 'ms', series: ['deny.fromKubectl.ms', 'deny.fromStored.ms', 'newPod.reachable.ms'] },
    ],
    notes: [
      `${iterations} measured iterations per part after ${warmup} warm-up; ${nodes} nodes; prober: a fresh TCP connection every ${PROBE_INTERVAL_MS} ms, ${PROBE_TIMEOUT_MS} ms timeout (resolution ~${PROBE_INTERVAL_MS} ms).`,
      '"blocked" = start of the first failed attempt followed only by failures (3 more); "reachable" = start of the first successful attempt.',
      'A timed-out iteration counts as 10000 ms in the percentiles.',
      'The kubectl process alone takes seconds when the machine is loaded (see "kubectl apply duration"): compare "from kubectl apply" with "API server stored the policy", the part the agents control.',
    ],
  };
  const file = await writeResult(result);
  log(`wrote ${file}`);
  for (const m of result.metrics) log(`${m.name}: ${m.value} ${m.unit}${m.pass === undefined ? '' : m.pass ? ' (pass)' : ' (FAIL)'}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`[policy-realization] failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
