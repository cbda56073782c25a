// The container runtime's side of CNI (what containerd's CRI plugin does for RunPodSandbox,
// StopPodSandbox and RemovePodSandbox): runs the plugins inside the node's namespace with the
// invocations built by cni-request.ts.
import { execa } from 'execa';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import type { CniErrorObject, CniResult } from '../../cni-binary/src/spec.js';
import { type Conflist, invocation, LOOPBACK_CONFLIST, type CniInvocation, type SandboxInfo } from './cni-request.js';

/** Environment containerd's plugins inherit (they must not rely on it, but PATH is there). */
const RUNTIME_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

export class CniCallError extends Error {
  constructor(readonly command: string, readonly plugin: string, readonly exitCode: number, readonly error: CniErrorObject | undefined, readonly output: string) {
    super(`CNI ${command} of ${plugin} failed (exit ${exitCode}${error ? `, CNI code ${error.code}` : ''}): ${error ? `${error.msg}${error.details ? ` (${error.details})` : ''}` : output.trim() || 'no output'}`);
  }
}

export interface RuntimeContext {
  /** namespace of the node the plugins run in */
  nodeNetns: string;
  /** CNI_PATH: directory holding the plugin executables */
  cniBinDir: string;
  /** the network (conflist) the runtime uses */
  network: Conflist;
  /** which plugins of the network's chain are run (others are skipped, see docs/e2e.md) */
  runPlugins: (type: string) => boolean;
}

async function run(ctx: RuntimeContext, inv: CniInvocation): Promise<unknown> {
  if (!/^[a-z0-9-]+$/.test(inv.type)) throw new Error(`CNI plugin type must be [a-z0-9-]+, got "${inv.type}"`);
  const r = await execa('ip', ['netns', 'exec', ctx.nodeNetns, join(ctx.cniBinDir, inv.type)], {
    env: { ...RUNTIME_ENV, ...inv.env }, extendEnv: false, input: inv.stdin, reject: false, timeout: 120000,
  });
  let json: unknown;
  try {
    json = r.stdout.trim() === '' ? undefined : JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  if (r.exitCode !== 0) throw new CniCallError(inv.env['CNI_COMMAND'] ?? '?', inv.type, r.exitCode ?? -1, json as CniErrorObject | undefined, `${r.stdout}\n${r.stderr}`);
  return json;
}

/** First IPv4 address of a result, as containerd takes the pod IP. */
export function podIpOf(result: CniResult): string {
  const addr = result.ips?.map((i) => i.address.split('/')[0] ?? '').find((a) => isIPv4(a));
  if (!addr) throw new Error(`the CNI result has no IPv4 address: ${JSON.stringify(result)}`);
  return addr;
}

/**
 * RunPodSandbox's network part: loopback and the network chain (in parallel, like containerd). A failed
 * ADD is followed at once by a DEL, then the error is thrown. Returns the chain's final result.
 */
export async function setupPodNetwork(ctx: RuntimeContext, s: SandboxInfo): Promise<CniResult> {
  const chain = async (): Promise<CniResult> => {
    let prev: unknown;
    for (const plugin of ctx.network.plugins.filter((p) => ctx.runPlugins(p.type))) {
      prev = await run(ctx, invocation(ctx.network, plugin, s, { command: 'ADD', ifname: 'eth0', cniPath: ctx.cniBinDir, withNetns: true, prevResult: prev }));
    }
    return prev as CniResult;
  };
  const loopback = run(ctx, invocation(LOOPBACK_CONFLIST, LOOPBACK_CONFLIST.plugins[0]!, s, { command: 'ADD', ifname: 'lo', cniPath: ctx.cniBinDir, withNetns: true }));
  const [lo, main] = await Promise.allSettled([loopback, chain()]);
  if (lo.status === 'fulfilled' && main.status === 'fulfilled') return main.value;
  await teardownPodNetwork(ctx, s, { withNetns: true }).catch(() => undefined);
  throw lo.status === 'rejected' ? lo.reason : (main as PromiseRejectedResult).reason;
}

/**
 * StopPodSandbox (withNetns, prevResult = the cached ADD result) or RemovePodSandbox (no netns, no
 * prevResult): DEL of the chain in reverse order, and of loopback.
 */
export async function teardownPodNetwork(ctx: RuntimeContext, s: SandboxInfo, o: { withNetns: boolean; prevResult?: CniResult }): Promise<void> {
  const chain = async (): Promise<void> => {
    for (const plugin of ctx.network.plugins.filter((p) => ctx.runPlugins(p.type)).reverse()) {
      await run(ctx, invocation(ctx.network, plugin, s, { command: 'DEL', ifname: 'eth0', cniPath: ctx.cniBinDir, withNetns: o.withNetns, prevResult: o.prevResult }));
    }
  };
  const loopback = run(ctx, invocation(LOOPBACK_CONFLIST, LOOPBACK_CONFLIST.plugins[0]!, s, { command: 'DEL', ifname: 'lo', cniPath: ctx.cniBinDir, withNetns: o.withNetns }));
  const results = await Promise.allSettled([chain(), loopback]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
