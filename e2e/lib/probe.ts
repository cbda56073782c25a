// Servers and probes inside namespaces, using the bundled agnhost program.
import { execa, type ResultPromise } from 'execa';
import { parseTargets, type ProbeResult, type ProbeTarget } from './agnhost.js';
import type { PortProtocol, TruthTable } from './matrix.js';

export interface ProbeOptions {
  /** per attempt; default 1000 */
  timeoutMs?: number;
  /** extra attempts after a failure; default 1 */
  retries?: number;
}

/** A running agnhost server; stop() kills it. */
export interface ServerProcess {
  netns: string;
  stop(): Promise<void>;
}

const NETNS_RE = /^loomt-[a-z0-9-]+$/;

function checkNetns(netns: string): string {
  if (!NETNS_RE.test(netns)) throw new Error(`harness namespaces match ${NETNS_RE}, got "${netns}"`);
  return netns;
}

/** Starts `agnhost serve` in a namespace and waits until every port listens. */
export async function startServer(agnhost: string, netns: string, name: string, ports: { tcp?: number[]; udp?: number[] }, opts: { keepOnExit?: boolean } = {}): Promise<ServerProcess> {
  const args = ['netns', 'exec', checkNetns(netns), process.execPath, agnhost, 'serve', '--name', name];
  const tcp = ports.tcp ?? [];
  const udp = ports.udp ?? [];
  for (const p of [...tcp, ...udp]) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`server port must be 1..65535, got ${p}`);
  if (tcp.length) args.push('--tcp', tcp.join(','));
  if (udp.length) args.push('--udp', udp.join(','));
  const proc: ResultPromise = execa('ip', args, { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', cleanup: !opts.keepOnExit, detached: opts.keepOnExit ?? false });
  const stop = async (): Promise<void> => {
    proc.kill('SIGKILL');
    await proc;
  };
  const ready = await new Promise<true | string>((resolve) => {
    const timer = setTimeout(() => resolve('no ready line within 15 s'), 15000);
    proc.stdout?.on('data', (d: Buffer) => {
      if (d.toString('utf8').includes('"ready":true')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void proc.then((r) => {
      clearTimeout(timer);
      resolve(`exited (${r.exitCode ?? r.signal ?? '?'}): ${String(r.stderr).trim()}`);
    });
  });
  if (ready !== true) {
    await stop();
    throw new Error(`agnhost server "${name}" in ${netns} did not start: ${ready}`);
  }
  return { netns, stop };
}

/** Probes every target from inside `netns`, concurrently, in one process. */
export async function probeFrom(agnhost: string, netns: string, targets: ProbeTarget[], o: ProbeOptions = {}): Promise<ProbeResult[]> {
  if (targets.length === 0) return [];
  const json = JSON.stringify(targets);
  parseTargets(json);
  const r = await execa('ip', [
    'netns', 'exec', checkNetns(netns), process.execPath, agnhost, 'probe', '--targets', json,
    '--timeout-ms', String(o.timeoutMs ?? 1000), '--retries', String(o.retries ?? 1),
  ], { reject: false, timeout: 120000 });
  if (r.exitCode !== 0) throw new Error(`probing from ${netns} failed (${r.exitCode}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as ProbeResult[];
}

/** Something that can be probed: a name for tables, a namespace to probe from, an IP to probe. */
export interface Endpoint {
  key: string;
  netns: string;
  ip: string;
}

/** Every endpoint probes every endpoint on every target port; one truth table per port/protocol. */
export async function probeMatrix(agnhost: string, endpoints: Endpoint[], targets: PortProtocol[], o: ProbeOptions = {}): Promise<TruthTable[]> {
  const rows = await Promise.all(endpoints.map((from) =>
    probeFrom(agnhost, from.netns, targets.flatMap((t) => endpoints.map((to) => ({ ip: to.ip, port: t.port, protocol: t.protocol }))), o)));
  return targets.map((t, ti) => ({
    target: t,
    pods: endpoints.map((e) => e.key),
    allowed: rows.map((results) => endpoints.map((_, j) => results[ti * endpoints.length + j]!.ok)),
  }));
}
