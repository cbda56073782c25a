// iperf3 TCP between two network namespaces (the server runs inside its pod netns), used by the
// bandwidth tests and benchmark. Traffic stays between the two namespaces given.
import { execa } from 'execa';

const NETNS_RE = /^loomt-[A-Za-z0-9_.-]{1,40}$/;
const IPV4_RE = /^(\d{1,3})(\.\d{1,3}){3}$/;

export interface IperfRun {
  /** namespace (ip netns name) of the iperf3 server */
  serverNs: string;
  serverIp: string;
  clientNs: string;
  /** measured seconds (after 1 s of warm-up that is left out) */
  seconds?: number;
  /** false: client sends to server; true (-R): server sends to client */
  reverse?: boolean;
  port?: number;
}

export interface IperfResult {
  /** receiver-side goodput, bits/s */
  bitsPerSecond: number;
  retransmits: number;
}

function check(o: IperfRun): void {
  for (const ns of [o.serverNs, o.clientNs]) if (!NETNS_RE.test(ns)) throw new Error(`iperf namespace ${JSON.stringify(ns)} must be a loomt-* test namespace`);
  if (!IPV4_RE.test(o.serverIp)) throw new Error(`iperf server IP ${JSON.stringify(o.serverIp)} is not an IPv4 address`);
  const port = o.port ?? 5201;
  if (!Number.isInteger(port) || port < 1024 || port > 65535) throw new Error(`iperf port ${port} must be 1024..65535`);
  const secs = o.seconds ?? 4;
  if (!Number.isInteger(secs) || secs < 1 || secs > 60) throw new Error(`iperf duration ${secs} must be 1..60 seconds`);
}

/** One TCP run; resolves to the rate the receiver saw. */
export async function iperfTcp(o: IperfRun): Promise<IperfResult> {
  check(o);
  const port = String(o.port ?? 5201);
  const seconds = o.seconds ?? 4;
  const server = execa('ip', ['netns', 'exec', o.serverNs, 'iperf3', '-s', '-1', '-B', o.serverIp, '-p', port], { reject: false, timeout: (seconds + 30) * 1000 });
  try {
    // Wait until the server listens (connection refused until then).
    let last = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      const ss = await execa('ip', ['netns', 'exec', o.serverNs, 'ss', '-Hltn', `sport = :${port}`], { reject: false });
      if (ss.stdout.trim() !== '') break;
      last = ss.stderr;
      await new Promise((r) => setTimeout(r, 50));
    }
    const args = ['netns', 'exec', o.clientNs, 'iperf3', '-c', o.serverIp, '-p', port, '-t', String(seconds + 1), '-O', '1', '-J', ...(o.reverse ? ['-R'] : [])];
    const client = await execa('ip', args, { reject: false, timeout: (seconds + 20) * 1000 });
    let report: { error?: string; end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } } };
    try {
      report = JSON.parse(client.stdout) as typeof report;
    } catch {
      throw new Error(`iperf3 client printed no JSON (exit ${client.exitCode}): ${client.stderr || client.stdout.slice(0, 300)} ${last}`);
    }
    if (report.error) throw new Error(`iperf3 from ${o.clientNs} to ${o.serverIp} failed: ${report.error}`);
    const bps = report.end?.sum_received?.bits_per_second;
    if (typeof bps !== 'number') throw new Error('iperf3 report has no end.sum_received.bits_per_second');
    return { bitsPerSecond: bps, retransmits: report.end?.sum_sent?.retransmits ?? 0 };
  } finally {
    server.kill('SIGKILL');
    await server;
  }
}

export interface LimitCheck {
  /** ratio (achieved/limit) of each run, in order */
  ratios: number[];
  /** true when a run landed within [1 - tolerance, 1 + tolerance] and none exceeded it */
  ok: boolean;
}

/**
 * Measures a limited path up to `attempts` times (stops at the first run within tolerance). A run
 * above the band fails at once (the limiter lets too much through); runs below it are retried,
 * because on a loaded shared VM a run can be slowed by the machine rather than the limiter.
 */
export async function checkAgainstLimit(run: () => Promise<number>, limitBps: number, opts: { attempts?: number; tolerance?: number } = {}): Promise<LimitCheck> {
  const attempts = opts.attempts ?? 3;
  const tol = opts.tolerance ?? 0.1;
  const ratios: number[] = [];
  for (let i = 0; i < attempts; i++) {
    const ratio = (await run()) / limitBps;
    ratios.push(ratio);
    if (ratio > 1 + tol) return { ratios, ok: false };
    if (ratio >= 1 - tol) return { ratios, ok: true };
  }
  return { ratios, ok: false };
}
