// loomctl: asks the local loom-agent (debug API on a unix socket) about pods, policies, flows, and
// traces a synthetic packet through the node's OVS pipeline.
import { parseArgs } from 'node:util';
import type { FlowsResponse, PodPoliciesResponse, PodsResponse, TraceRequest, TraceResult } from '../debugapi/types.js';
import { AgentRequestError, AgentUnreachableError, callAgent, DEFAULT_SOCKET } from './client.js';
import { renderFlows, renderPods, renderPolicies, renderTrace } from './render.js';

export const USAGE = `usage: loomctl [--socket PATH] [--json] COMMAND

Commands (they ask the loom-agent of THIS node):
  pods                              local pods: IP, MAC, OVS port, bandwidth limits, isolation, audit
  policies NAMESPACE/POD            NetworkPolicies and rules selecting the pod, per direction
  flows [--pod NS/POD] [--table T]  Loom's OpenFlow flows, each with the object it belongs to
  trace SRC DST [--proto tcp|udp|icmp] [--port 80] [-v]
                                    OVS trace of a synthetic new connection from SRC to DST (a pod as
                                    NAMESPACE/POD, or an IPv4 address), step by step, with the verdict
                                    and the NetworkPolicy rule or default deny that decided it

Options:
  --socket PATH   agent debug socket (default ${DEFAULT_SOCKET}: the directory of the agent's CNI socket)
  --json          print the agent's answer as JSON
  -v, --verbose   trace: also print each matched flow
  -h, --help      this text
`;

export class UsageError extends Error {}

export interface Invocation {
  command: 'pods' | 'policies' | 'flows' | 'trace';
  socket: string;
  json: boolean;
  verbose: boolean;
  pod?: string;
  table?: number;
  trace?: TraceRequest;
}

const POD_RE = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

export function parseInvocation(argv: string[]): Invocation | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        socket: { type: 'string' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        pod: { type: 'string' },
        table: { type: 'string' },
        proto: { type: 'string' },
        port: { type: 'string' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals: pos } = parsed;
  if (v.help || pos.length === 0) return 'help';
  const base = { socket: v.socket ?? DEFAULT_SOCKET, json: v.json ?? false, verbose: v.verbose ?? false };
  if (!base.socket.startsWith('/')) throw new UsageError(`--socket must be an absolute path, got "${base.socket}"`);
  const [command, ...args] = pos;
  const only = (allowed: string[]) => {
    for (const k of ['pod', 'table', 'proto', 'port'] as const) if (v[k] !== undefined && !allowed.includes(k)) throw new UsageError(`--${k} does not apply to "${command}"`);
  };
  const pod = (what: string, s: string | undefined): string => {
    if (!s || !POD_RE.test(s)) throw new UsageError(`${what} must be NAMESPACE/POD, got "${s ?? ''}"`);
    return s;
  };
  switch (command) {
    case 'pods':
      only([]);
      if (args.length) throw new UsageError('pods takes no arguments');
      return { command, ...base };
    case 'policies':
      only([]);
      if (args.length !== 1) throw new UsageError('usage: loomctl policies NAMESPACE/POD');
      return { command, ...base, pod: pod('POD', args[0]) };
    case 'flows': {
      only(['pod', 'table']);
      if (args.length) throw new UsageError('usage: loomctl flows [--pod NS/POD] [--table T]');
      let table: number | undefined;
      if (v.table !== undefined) {
        table = Number(v.table);
        if (!Number.isInteger(table) || table < 0 || table > 254) throw new UsageError(`--table must be 0..254, got "${v.table}"`);
      }
      return { command, ...base, ...(v.pod ? { pod: pod('--pod', v.pod) } : {}), ...(table !== undefined ? { table } : {}) };
    }
    case 'trace': {
      only(['proto', 'port']);
      if (args.length !== 2) throw new UsageError('usage: loomctl trace SRC DST [--proto tcp|udp|icmp] [--port N]');
      const proto = (v.proto ?? 'tcp').toLowerCase();
      if (proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp') throw new UsageError(`--proto must be tcp, udp or icmp, got "${v.proto}"`);
      const req: TraceRequest = { src: args[0] as string, dst: args[1] as string, proto };
      if (v.port !== undefined) {
        if (proto === 'icmp') throw new UsageError('--port does not apply to --proto icmp');
        const port = Number(v.port);
        if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be 1..65535, got "${v.port}"`);
        req.port = port;
      } else if (proto !== 'icmp') req.port = 80;
      return { command, ...base, trace: req };
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Runs one invocation; returns the text to print. */
export async function run(inv: Invocation): Promise<string> {
  const out = (data: unknown, text: () => string) => (inv.json ? `${JSON.stringify(data, null, 2)}\n` : text());
  switch (inv.command) {
    case 'pods': {
      const r = await callAgent<PodsResponse>(inv.socket, 'GET', '/v1/pods');
      return out(r, () => renderPods(r));
    }
    case 'policies': {
      const [ns, name] = (inv.pod as string).split('/') as [string, string];
      const r = await callAgent<PodPoliciesResponse>(inv.socket, 'GET', `/v1/pods/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/policies`);
      return out(r, () => renderPolicies(r));
    }
    case 'flows': {
      const q = new URLSearchParams();
      if (inv.pod) q.set('pod', inv.pod);
      if (inv.table !== undefined) q.set('table', String(inv.table));
      const r = await callAgent<FlowsResponse>(inv.socket, 'GET', `/v1/flows${q.size ? `?${q}` : ''}`);
      return out(r, () => renderFlows(r));
    }
    case 'trace': {
      const r = await callAgent<TraceResult>(inv.socket, 'POST', '/v1/trace', inv.trace);
      return out(r, () => renderTrace(r, { verbose: inv.verbose }));
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const inv = parseInvocation(argv);
    if (inv === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stdout.write(await run(inv));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`loomctl: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof AgentUnreachableError || e instanceof AgentRequestError) {
      process.stderr.write(`loomctl: ${e.message}\n`);
      return 1;
    }
    process.stderr.write(`loomctl: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && /loomctl(\.mjs|[/\\]main\.ts)$/.test(process.argv[1]);
if (isEntry) process.exitCode = await main(process.argv.slice(2));
