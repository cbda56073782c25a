// Kernel qdiscs for pod bandwidth: the egress TBF on the pod's interface inside its network namespace
// (nsenter + tc, argument arrays only) and a reader for the root qdisc of any interface.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { tbfCommand, type TbfParams } from './limits.js';

const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const TC_TIMEOUT_MS = 10000;

export interface RootQdisc {
  kind: string;
  /** TBF rate in bits/s (tc -j reports bytes/s) */
  rateBps?: number;
  burstBytes?: number;
}

function checkIfname(ifname: string): string {
  if (!IFNAME_RE.test(ifname)) throw new Error(`invalid interface name ${JSON.stringify(ifname)}: expected 1-15 characters of [A-Za-z0-9_.-]`);
  return ifname;
}

function checkNetnsPath(netns: string): string {
  if (!isAbsolute(netns) || netns.includes('\0') || netns.split('/').includes('..')) {
    throw new Error(`invalid network namespace path ${JSON.stringify(netns)}: expected an absolute path such as /var/run/netns/<name>`);
  }
  return netns;
}

/** True when the pod's network namespace still exists (DEL may come after the sandbox is gone). */
export function netnsExists(netns: string): boolean {
  return netns !== '' && existsSync(checkNetnsPath(netns));
}

/** Runs tc in the given network namespace ('' = the agent's own). */
function tc(netns: string, args: string[]) {
  const cmd = netns === '' ? ['tc', ...args] : ['nsenter', `--net=${checkNetnsPath(netns)}`, 'tc', ...args];
  return execa(cmd[0]!, cmd.slice(1), { reject: false, timeout: TC_TIMEOUT_MS });
}

/** Pod-side changes need the pod's netns: never fall back to the agent's own (it would shape the node). */
function requirePodNetns(netns: string, what: string): void {
  if (netns === '') throw new Error(`${what} needs the pod's network namespace path, and none is known for this attachment`);
}

/** Installs (or replaces) the TBF root qdisc on `ifname` inside `netns`. */
export async function setTbf(netns: string, ifname: string, p: TbfParams): Promise<void> {
  requirePodNetns(netns, 'installing the egress limit');
  const r = await tc(netns, tbfCommand(checkIfname(ifname), p));
  if (r.exitCode !== 0) {
    throw new Error(`installing the egress limit (tbf ${p.rateBps} bit/s) on ${ifname} in ${netns} failed: ${r.stderr.trim() || `tc exited with ${r.exitCode}`}`);
  }
}

/** The root qdisc of `ifname` in `netns` ('' = the agent's own), or null when the interface has none we can see. */
export async function readRootQdisc(netns: string, ifname: string): Promise<RootQdisc | null> {
  const r = await tc(netns, ['-j', 'qdisc', 'show', 'dev', checkIfname(ifname)]);
  if (r.exitCode !== 0) throw new Error(`reading the qdiscs of ${ifname}${netns ? ` in ${netns}` : ''} failed: ${r.stderr.trim() || `tc exited with ${r.exitCode}`}`);
  let list: unknown;
  try {
    list = JSON.parse(r.stdout || '[]');
  } catch {
    throw new Error(`tc printed unexpected output for ${ifname}: ${r.stdout.slice(0, 200)}`);
  }
  if (!Array.isArray(list)) return null;
  for (const q of list as Array<{ kind?: unknown; root?: unknown; options?: { rate?: unknown; burst?: unknown } }>) {
    if (q.root !== true || typeof q.kind !== 'string') continue;
    const out: RootQdisc = { kind: q.kind };
    if (typeof q.options?.rate === 'number') out.rateBps = q.options.rate * 8;
    if (typeof q.options?.burst === 'number') out.burstBytes = q.options.burst;
    return out;
  }
  return null;
}

/** Deletes the root qdisc of `ifname` in `netns` when it is a TBF (Loom's). Returns whether one was removed. */
export async function clearTbf(netns: string, ifname: string): Promise<boolean> {
  requirePodNetns(netns, 'removing the egress limit');
  const root = await readRootQdisc(netns, ifname);
  if (root?.kind !== 'tbf') return false;
  const r = await tc(netns, ['qdisc', 'del', 'dev', checkIfname(ifname), 'root']);
  if (r.exitCode !== 0) throw new Error(`removing the egress limit on ${ifname} in ${netns} failed: ${r.stderr.trim() || `tc exited with ${r.exitCode}`}`);
  return true;
}
