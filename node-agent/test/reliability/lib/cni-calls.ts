// Calling a node's loom-agent the way a runtime does, either in-process through the shim's own code
// path (runCni: fast, for thousands of calls) or through the real dist/loom-cni executable.
import { execa } from 'execa';
import { Readable } from 'node:stream';
import { runCni } from '../../../../cni-binary/src/cli.js';
import { SUPPORTED_VERSIONS, type CniErrorObject } from '../../../../cni-binary/src/spec.js';
import { LOOM_CNI, type AgentNode } from '../../support/agent-node.js';

export type CniEnv = Record<string, string>;

export interface CniAnswer {
  exitCode: number;
  stdout: string;
  /** parsed stdout (undefined when empty or not JSON) */
  json: unknown;
  ms: number;
}

function parse(stdout: string): unknown {
  if (stdout.trim() === '') return undefined;
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    return undefined;
  }
}

/** The shim's code path in this process: env + stdin bytes -> agent -> what loom-cni would print. */
export async function cniInProcess(env: CniEnv, stdin: string | Buffer, timeoutMs?: number): Promise<CniAnswer> {
  const t0 = performance.now();
  const bytes = typeof stdin === 'string' ? Buffer.from(stdin) : stdin;
  const out = await runCni(env, Readable.from([bytes]), timeoutMs === undefined ? {} : { timeoutMs });
  return { exitCode: out.exitCode, stdout: out.stdout, json: parse(out.stdout), ms: performance.now() - t0 };
}

/** The real executable, run like a runtime runs it (host namespace, only the given environment). */
export async function cniExec(env: CniEnv, stdin: string | Buffer, timeoutMs = 20000): Promise<CniAnswer> {
  const t0 = performance.now();
  const r = await execa(LOOM_CNI, [], { env, extendEnv: false, input: stdin, reject: false, timeout: timeoutMs, stripFinalNewline: false });
  return { exitCode: r.timedOut ? -2 : (r.exitCode ?? -1), stdout: String(r.stdout), json: parse(String(r.stdout)), ms: performance.now() - t0 };
}

export const k8sArgs = (ns: string, name: string): string =>
  `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=${name};K8S_POD_UID=uid-${name}`;

export function podEnv(command: string, containerId: string, netns: string, podName: string): CniEnv {
  return { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: k8sArgs('default', podName) };
}

export function confText(node: AgentNode, extra: Record<string, unknown> = {}): string {
  return JSON.stringify(node.netConf(extra));
}

/** Problems with a CNI error object (empty when it is a valid one per the CNI spec). */
export function errorObjectProblems(v: unknown): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return ['not a JSON object'];
  const o = v as Record<string, unknown>;
  const p: string[] = [];
  if (typeof o.cniVersion !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(o.cniVersion)) p.push(`cniVersion ${JSON.stringify(o.cniVersion)} is not a supported version`);
  if (!Number.isInteger(o.code) || (o.code as number) < 1) p.push(`code ${JSON.stringify(o.code)} is not a positive integer`);
  if (typeof o.msg !== 'string' || o.msg.trim() === '') p.push('msg is missing or empty');
  if (o.details !== undefined && typeof o.details !== 'string') p.push('details is not a string');
  for (const k of Object.keys(o)) if (!['cniVersion', 'code', 'msg', 'details'].includes(k)) p.push(`unexpected key ${k}`);
  return p;
}

export function asErrorObject(v: unknown): CniErrorObject | undefined {
  return errorObjectProblems(v).length === 0 ? (v as CniErrorObject) : undefined;
}

export function ipOf(answer: CniAnswer): string {
  const ips = (answer.json as { ips?: Array<{ address: string }> } | undefined)?.ips;
  const address = ips?.[0]?.address;
  if (!address) throw new Error(`no IP in the ADD result: ${answer.stdout}`);
  return address.split('/')[0]!;
}

/** Small deterministic PRNG (mulberry32) so a failing run can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Run `worker` over items with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, worker: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await worker(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** True when the longer (soak) variants were asked for. */
export const SOAK = process.env.LOOM_RELIABILITY_SOAK === '1';
