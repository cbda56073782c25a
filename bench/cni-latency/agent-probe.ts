// What the agent itself says about a node: its CNI request histogram (read over loopback inside the
// node netns with curl) and its resident memory.
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';

export interface VerbTotals {
  /** Requests observed */
  count: number;
  /** Sum of their durations, seconds */
  sumSeconds: number;
}

/** Totals of loom_cni_request_duration_seconds for one verb from Prometheus text. */
export function cniDurationTotals(metricsText: string, verb: string): VerbTotals {
  const read = (suffix: 'sum' | 'count'): number => {
    const re = new RegExp(`^loom_cni_request_duration_seconds_${suffix}\\{[^}]*verb="${verb}"[^}]*\\}\\s+(\\S+)`, 'm');
    const m = re.exec(metricsText);
    return m ? Number(m[1]) : 0;
  };
  return { count: read('count'), sumSeconds: read('sum') };
}

export async function scrapeMetrics(nodeNetns: string, port: number): Promise<string> {
  if (!/^loomt-[a-z0-9-]+$/.test(nodeNetns)) throw new Error(`node netns "${nodeNetns}" is not a loomt- namespace`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`metrics port ${port} is not a TCP port`);
  const r = await execa('ip', ['netns', 'exec', nodeNetns, 'curl', '-sS', '--max-time', '10', `http://127.0.0.1:${port}/metrics`], { reject: false });
  if (r.exitCode !== 0) throw new Error(`cannot read the agent's metrics in ${nodeNetns} on 127.0.0.1:${port}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Duration of the one request of `verb` made since `before`, in ms. Requests are sequential, so the
 * histogram's sum grows by exactly that request; retried briefly in case the agent records the
 * observation just after answering.
 */
export async function lastRequestMs(nodeNetns: string, port: number, verb: string, before: VerbTotals): Promise<{ ms: number; totals: VerbTotals }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const totals = cniDurationTotals(await scrapeMetrics(nodeNetns, port), verb);
    if (totals.count === before.count + 1) return { ms: (totals.sumSeconds - before.sumSeconds) * 1000, totals };
    if (totals.count > before.count + 1) throw new Error(`expected one new ${verb} request in the agent's histogram, found ${totals.count - before.count}: is something else calling this agent?`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the agent in ${nodeNetns} did not record the ${verb} request in loom_cni_request_duration_seconds`);
}

/** Pid of the loom-agent process running in the namespace. */
export async function agentPid(nodeNetns: string): Promise<number> {
  const { stdout } = await execa('ip', ['netns', 'pids', nodeNetns]);
  for (const pid of stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('loom-agent')) return pid;
  }
  throw new Error(`no loom-agent process found in netns ${nodeNetns}`);
}

/** VmRSS of a process in MB. */
export async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}
