// The upstream Kubernetes NetworkPolicy e2e model (test/e2e/network/netpol) on the Loom harness:
// namespaces x, y, z; pods a, b, c in each, labelled pod=<name>, spread over the nodes so that
// every table has same-node and cross-node pairs; servers on 80 and 81 over TCP and UDP with
// named ports serve-<port>-<proto>. Expectations are predicates over (from, to, port/protocol).
import type { Cluster } from '../lib/cluster.js';
import type { PortProtocol, TruthTable } from '../lib/matrix.js';
import { expectedTable, formatMatrix } from '../lib/matrix.js';
import type { ContainerPortSpec, Pod, PodSpec } from '../lib/pods.js';
import type { Endpoint } from '../lib/probe.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;

export const TCP80: PortProtocol = { port: 80, protocol: 'TCP' };
export const TCP81: PortProtocol = { port: 81, protocol: 'TCP' };
export const UDP80: PortProtocol = { port: 80, protocol: 'UDP' };
export const UDP81: PortProtocol = { port: 81, protocol: 'UDP' };
export const ALL_TARGETS: PortProtocol[] = [TCP80, TCP81, UDP80, UDP81];

/** The upstream servers: 80 and 81, TCP and UDP, named serve-<port>-<proto>. */
export const SERVE_PORTS: ContainerPortSpec[] = [80, 81].flatMap((port) =>
  (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol })));

/** `namespace/name` of a model pod. */
export type PodKey = string;

export const nsOf = (key: PodKey): string => key.split('/')[0]!;
export const nameOf = (key: PodKey): string => key.split('/')[1]!;

/** Node (1-based) of pod `name` in namespace `ns`: a rotation, so each node holds one pod of each name and namespace. */
export function nodeFor(ns: string, name: string, nodes: number): number {
  const i = NAMESPACES.indexOf(ns as (typeof NAMESPACES)[number]);
  const j = POD_NAMES.indexOf(name as (typeof POD_NAMES)[number]);
  if (i < 0 || j < 0) throw new Error(`${ns}/${name} is not a model pod (namespaces x,y,z; pods a,b,c)`);
  return ((i + j) % nodes) + 1;
}

/**
 * createPod, retried once when the pod's network namespace vanished before CNI ADD: another test
 * run's leftover cleanup can delete a namespace in the instant between `ip netns add` and the
 * owner record (node-agent/test/support/netns.ts createNetns), a harness race, not a Loom bug.
 */
export async function createPodRetryingNetnsRace(cluster: Cluster, spec: PodSpec): Promise<Pod> {
  try {
    return await cluster.createPod(spec);
  } catch (e) {
    if (!/does not exist|Statfs/.test((e as Error).message)) throw e;
    return cluster.createPod(spec);
  }
}

/** Creates the 9 model pods (concurrently per namespace). */
export async function createModelPods(cluster: Cluster): Promise<Pod[]> {
  const nodes = cluster.nodes.length;
  const pods: Pod[] = [];
  for (const ns of NAMESPACES) {
    pods.push(...await Promise.all(POD_NAMES.map((name) =>
      createPodRetryingNetnsRace(cluster, { namespace: ns, name, node: nodeFor(ns, name, nodes), labels: { pod: name }, containerPorts: SERVE_PORTS }))));
  }
  return pods;
}

/** Whether `from` reaches `to` on `target` under the case being checked. */
export type Expectation = (from: PodKey, to: PodKey, target: PortProtocol) => boolean;

/** A pod always reaches itself: traffic to its own IP stays on its loopback (upstream allows loopback too). */
export function expectation(allow: Expectation): Expectation {
  return (from, to, target) => from === to || allow(from, to, target);
}

export const allowAll: Expectation = () => true;

export interface TableCheck {
  ok: boolean;
  tables: TruthTable[];
  expected: TruthTable[];
}

function sameTable(a: TruthTable, b: TruthTable): boolean {
  return a.allowed.every((row, i) => row.every((v, j) => v === b.allowed[i]![j]));
}

/** Probe settings: quick for the full matrix, slow for re-checking cells that look wrongly blocked. */
const QUICK = { timeoutMs: 1000, retries: 0 };
const CAREFUL = { timeoutMs: 3000, retries: 1 };

/**
 * Probes the full matrix once and compares it with the expectation. A reached cell is a fact; a
 * blocked cell that should be reached may be a probe starved on a loaded machine, so when no cell
 * is wrongly reached, those cells are probed again with a longer timeout before they count.
 */
export async function checkTables(cluster: Cluster, endpoints: Endpoint[], targets: PortProtocol[], expect: Expectation): Promise<TableCheck> {
  const keys = endpoints.map((e) => e.key);
  const tables = await cluster.probeMatrix(endpoints, targets, QUICK);
  const expected = targets.map((t) => expectedTable(t, keys, (f, to) => expectation(expect)(f, to, t)));
  const cells = (want: (measured: boolean, expected: boolean) => boolean): Array<{ ti: number; i: number; j: number }> =>
    tables.flatMap((t, ti) => t.allowed.flatMap((row, i) => row.flatMap((v, j) => (want(v, expected[ti]!.allowed[i]![j]!) ? [{ ti, i, j }] : []))));
  const wronglyReached = cells((m, e) => m && !e);
  const wronglyBlocked = cells((m, e) => !m && e);
  if (wronglyReached.length === 0 && wronglyBlocked.length > 0) {
    const bySource = new Map<number, Array<{ ti: number; j: number }>>();
    for (const c of wronglyBlocked) bySource.set(c.i, [...(bySource.get(c.i) ?? []), { ti: c.ti, j: c.j }]);
    await Promise.all([...bySource].map(async ([i, list]) => {
      const results = await cluster.probe(endpoints[i]!, list.map((c) => ({ ip: endpoints[c.j]!.ip, port: targets[c.ti]!.port, protocol: targets[c.ti]!.protocol })), CAREFUL);
      results.forEach((r, k) => {
        if (r.ok) tables[list[k]!.ti]!.allowed[i]![list[k]!.j] = true;
      });
    }));
  }
  return { ok: tables.every((t, i) => sameTable(t, expected[i]!)), tables, expected };
}

/** Rendered mismatch: per target, the measured table with `+` (reached, expected blocked) and `x` (blocked, expected reached). */
export function describeMismatch(check: TableCheck): string {
  return check.tables.map((t, i) => {
    const exp = check.expected[i]!;
    if (sameTable(t, exp)) return `${t.target.protocol}/${t.target.port}: as expected`;
    return `${t.target.protocol}/${t.target.port}: measured, compared with the expectation (+ reached but expected blocked, x blocked but expected reached):\n${formatMatrix(t, exp)}`;
  }).join('\n');
}

/**
 * Polls the full truth tables until they match the expectation (policy realization is asynchronous
 * across nodes but bounded) or `timeoutMs` passes, then throws with the measured tables and what differs.
 * LOOM_NETPOL_VERBOSE=1 prints every probe round (how long realization took, what was still wrong).
 */
export async function waitForTables(cluster: Cluster, endpoints: Endpoint[], targets: PortProtocol[], expect: Expectation, what: string, timeoutMs = 20000): Promise<TruthTable[]> {
  const until = Date.now() + timeoutMs;
  let attempts = 0;
  for (;;) {
    attempts++;
    const check = await checkTables(cluster, endpoints, targets, expect);
    if (process.env.LOOM_NETPOL_VERBOSE) process.stderr.write(`      [netpol] ${what}: probe ${attempts} ${check.ok ? 'matches' : `differs:\n${describeMismatch(check)}`}\n`);
    if (check.ok) return check.tables;
    if (Date.now() > until) {
      throw new Error(`${what}: connectivity still differs from the expectation after ${attempts} probes over ${timeoutMs} ms\n${describeMismatch(check)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
