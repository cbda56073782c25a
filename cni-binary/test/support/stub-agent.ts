// A stand-in for loom-agent: an HTTP server on a unix socket in a `loomt-` temp dir that records
// every request and answers with whatever the test set.
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShimResponse } from '../../src/protocol.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface CannedAnswer {
  status: number;
  body: string;
}

export type Responder = (req: RecordedRequest) => CannedAnswer | 'hang';

export interface StubAgent {
  socketPath: string;
  dir: string;
  requests: RecordedRequest[];
  /** Replace the answer for the following requests. */
  respond(responder: Responder): void;
  stop(): Promise<void>;
}

export function okAnswer(result?: unknown): CannedAnswer {
  const body: ShimResponse = { protocolVersion: 1, ok: true, result };
  return { status: 200, body: JSON.stringify(body) };
}

export function errorAnswer(code: number, msg: string, details?: string): CannedAnswer {
  const error = details === undefined ? { cniVersion: '1.0.0', code, msg } : { cniVersion: '1.0.0', code, msg, details };
  const body: ShimResponse = { protocolVersion: 1, ok: false, error };
  return { status: 200, body: JSON.stringify(body) };
}

/** A fresh temp dir named loomt-*; remove it with removeTempDir. */
export function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'loomt-cni-'));
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function startStubAgent(): Promise<StubAgent> {
  const dir = await makeTempDir();
  const socketPath = join(dir, 'cni.sock');
  const requests: RecordedRequest[] = [];
  let responder: Responder = () => okAnswer();
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      const answer = responder(recorded);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    dir,
    requests,
    respond(r) {
      responder = r;
    },
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removeTempDir(dir);
    },
  };
}
