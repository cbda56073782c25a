// The agent side of the shim protocol: HTTP/1.1 over a unix socket owned by root with mode 0600.
// 503 while the agent is not ready (loom-cni turns it into CNI code 11), 413 for oversized bodies.
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { MAX_REQUEST_BYTES, SHIM_HTTP_PATH, SHIM_PROTOCOL_VERSION, type ShimResponse } from '../../../cni-binary/src/protocol.js';
import { CNI_SPEC_VERSION, CniErrorCode } from '../../../cni-binary/src/spec.js';
import { logger } from '../util/log.js';

const log = logger('cniserver');

export type ShimHandler = (body: unknown) => Promise<ShimResponse>;

export interface CniServerOptions {
  socketPath: string;
  handler: ShimHandler;
  /** returns null when ready, else the reason */
  notReadyReason: () => string | null;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorResponse(code: number, msg: string): ShimResponse {
  return { protocolVersion: SHIM_PROTOCOL_VERSION, ok: false, error: { cniVersion: CNI_SPEC_VERSION, code, msg } };
}

/** The body's chunks, or null as soon as it exceeds `limit` (reading then stops: the request is paused). */
function readBounded(req: IncomingMessage, limit: number): Promise<Buffer[] | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!settled) {
        settled = true;
        resolve(chunks);
      }
    });
    req.on('error', (e) => {
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
  });
}

/**
 * Answer 413 and close the connection once the answer is flushed: destroying the socket right after
 * res.end() would discard the still-corked answer, and the client would only see a reset.
 */
function rejectTooLarge(req: IncomingMessage, res: ServerResponse, msg: string): void {
  res.shouldKeepAlive = false;
  res.once('finish', () => {
    // Half-close and discard what the client is still sending for a moment before closing: closing
    // with unread data makes the kernel send a reset, which can destroy the 413 before it is read.
    const socket = req.socket;
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  send(res, 413, errorResponse(CniErrorCode.InvalidConfig, msg));
}

export class CniServer {
  private server: Server | undefined;

  constructor(private readonly opts: CniServerOptions) {}

  async start(): Promise<void> {
    const { socketPath } = this.opts;
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
    await rm(socketPath, { force: true }); // a stale socket from a previous run
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    await chmod(socketPath, 0o600);
    this.server = server;
    log.info('CNI server listening', { socket: socketPath });
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await rm(this.opts.socketPath, { force: true });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST' || req.url !== SHIM_HTTP_PATH) {
        send(res, 404, errorResponse(CniErrorCode.InvalidEnv, `unknown endpoint ${req.method} ${req.url}: loom-cni posts to ${SHIM_HTTP_PATH}`));
        req.resume();
        return;
      }
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > MAX_REQUEST_BYTES) {
        rejectTooLarge(req, res, `request of ${declared} bytes exceeds the limit of ${MAX_REQUEST_BYTES} bytes`);
        return;
      }
      const chunks = await readBounded(req, MAX_REQUEST_BYTES);
      if (chunks === null) {
        rejectTooLarge(req, res, `request exceeds the limit of ${MAX_REQUEST_BYTES} bytes`);
        return;
      }
      const notReady = this.opts.notReadyReason();
      if (notReady !== null) {
        send(res, 503, errorResponse(CniErrorCode.TryAgainLater, `loom-agent is not ready yet: ${notReady}; try again later`));
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        send(res, 200, errorResponse(CniErrorCode.DecodeFailure, 'request body is not valid JSON'));
        return;
      }
      send(res, 200, await this.opts.handler(body));
    } catch (e) {
      log.error('CNI request failed unexpectedly', { error: (e as Error).message });
      if (!res.headersSent) send(res, 200, errorResponse(CniErrorCode.IoFailure, `loom-agent internal error: ${(e as Error).message}`));
    }
  }
}
