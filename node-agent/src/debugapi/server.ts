// The agent's local debug API: JSON over HTTP on a unix socket (mode 0600, root only), used by
// loomctl. Read-only, except POST /v1/trace which only asks OVS to simulate a packet.
//   GET  /v1/pods                        local pods: IP, MAC, OVS port, limits, isolation
//   GET  /v1/pods/{ns}/{name}/policies   policies and rules selecting the pod, per direction
//   GET  /v1/flows?pod=ns/name&table=T   Loom's flows with the object each belongs to
//   POST /v1/trace {src,dst,proto,port}  OVS trace of a synthetic packet, explained
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage, logger } from '../util/log.js';
import { runOfprotoTrace, TraceInputError, trace } from './trace.js';
import { API_PREFIX, type AgentIntrospection } from './types.js';
import { flowsView, NotFoundError, podPoliciesView, podsView } from './views.js';

const log = logger('debugapi');
const MAX_BODY = 16 * 1024;
const NAME_RE = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

/** The debug socket sits next to the CNI socket: <dir of cniSocket>/loomctl.sock. */
export function debugSocketPath(cniSocket: string): string {
  return join(dirname(cniSocket), 'loomctl.sock');
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

export async function handle(
  agent: AgentIntrospection,
  method: string,
  rawUrl: string,
  body: () => Promise<unknown>,
  runTrace: typeof runOfprotoTrace = runOfprotoTrace,
): Promise<{ status: number; body: unknown }> {
  const url = new URL(rawUrl, 'http://loomctl');
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.startsWith(API_PREFIX)) throw new HttpError(404, `unknown path ${url.pathname}; this agent serves ${API_PREFIX}/...`);
  const rest = path.slice(API_PREFIX.length).split('/').filter(Boolean);
  const notReady = agent.notReadyReason();
  if (notReady && !(rest[0] === 'pods' && rest.length === 1)) throw new HttpError(503, `the agent on ${agent.nodeName} is not ready: ${notReady}`);
  if (method === 'GET' && rest.length === 1 && rest[0] === 'pods') return { status: 200, body: podsView(agent) };
  if (method === 'GET' && rest.length === 4 && rest[0] === 'pods' && rest[3] === 'policies') {
    const [ns, name] = [rest[1] as string, rest[2] as string];
    if (!NAME_RE.test(ns) || !NAME_RE.test(name)) throw new HttpError(400, `invalid pod ${ns}/${name}`);
    return { status: 200, body: podPoliciesView(agent, ns, name) };
  }
  if (method === 'GET' && rest.length === 1 && rest[0] === 'flows') {
    const pod = url.searchParams.get('pod') ?? undefined;
    const tableText = url.searchParams.get('table') ?? undefined;
    if (pod !== undefined && !/^[a-z0-9][-.a-z0-9]*\/[a-z0-9][-.a-z0-9]*$/.test(pod)) throw new HttpError(400, `pod must be NAMESPACE/NAME, got "${pod}"`);
    let table: number | undefined;
    if (tableText !== undefined) {
      table = Number(tableText);
      if (!Number.isInteger(table) || table < 0 || table > 254) throw new HttpError(400, `table must be 0..254, got "${tableText}"`);
    }
    return { status: 200, body: await flowsView(agent, { ...(pod ? { pod } : {}), ...(table !== undefined ? { table } : {}) }) };
  }
  if (method === 'POST' && rest.length === 1 && rest[0] === 'trace') return { status: 200, body: await trace(agent, await body(), runTrace) };
  throw new HttpError(404, `no ${method} ${url.pathname}; see loomctl --help`);
}

export class DebugServer {
  private server: Server | undefined;

  constructor(
    private readonly agent: AgentIntrospection,
    readonly socketPath: string,
    /** tests replace ovs-appctl with recorded output */
    private readonly runTrace: typeof runOfprotoTrace = runOfprotoTrace,
  ) {}

  async start(): Promise<void> {
    await mkdir(dirname(this.socketPath), { recursive: true });
    await rm(this.socketPath, { force: true });
    this.server = createServer((req, res) => {
      handle(this.agent, req.method ?? 'GET', req.url ?? '/', () => readJson(req), this.runTrace)
        .then((r) => send(res, r.status, r.body))
        .catch((e: unknown) => {
          const status = e instanceof HttpError ? e.status : e instanceof NotFoundError ? 404 : e instanceof TraceInputError ? 400 : 500;
          if (status === 500) log.warn('debug API request failed', { url: req.url, error: errorMessage(e) });
          send(res, status, { error: errorMessage(e) });
        });
    });
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    await chmod(this.socketPath, 0o600);
    log.info('debug API listening (loomctl)', { socket: this.socketPath });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await rm(this.socketPath, { force: true });
  }
}
