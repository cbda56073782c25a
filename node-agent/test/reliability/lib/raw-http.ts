// A hostile local client of the agent's socket: arbitrary bytes, headers and lengths.
import { request } from 'node:http';
import { connect } from 'node:net';
import { SHIM_HTTP_PATH } from '../../../../cni-binary/src/protocol.js';

export type RawReply = { kind: 'reply'; status: number; body: string } | { kind: 'failed'; error: string };

/** POST a body (any bytes) to the shim endpoint, with a correct content-length. */
export function rawPost(socketPath: string, body: string | Buffer, timeoutMs = 30000): Promise<RawReply> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: RawReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      req.destroy();
    };
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const req = request({ socketPath, method: 'POST', path: SHIM_HTTP_PATH, agent: false, headers: { 'content-type': 'application/json', 'content-length': bytes.length, connection: 'close' } });
    const timer = setTimeout(() => done({ kind: 'failed', error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done({ kind: 'failed', error: e.code ?? e.message }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ kind: 'reply', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e: NodeJS.ErrnoException) => done({ kind: 'failed', error: e.code ?? e.message }));
    });
    req.end(bytes);
  });
}

export interface FloodResult {
  /** bytes the client managed to write before the agent stopped reading or closed */
  bytesWritten: number;
  /** the status line and body the agent answered, if any */
  status?: number;
  body: string;
  closedBy: 'agent' | 'client-limit' | 'timeout';
}

/**
 * Stream up to `totalBytes` of body to the agent, with a declared Content-Length (`declared`) or with
 * chunked encoding (no length), and report how much the agent accepted before answering/closing.
 */
export function flood(socketPath: string, opts: { totalBytes: number; declared: boolean; timeoutMs: number }): Promise<FloodResult> {
  return new Promise((resolve) => {
    const sock = connect(socketPath);
    let written = 0;
    let received = '';
    let settled = false;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const finish = (closedBy: FloodResult['closedBy']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      const body = received.split('\r\n\r\n').slice(1).join('\r\n\r\n');
      resolve({ bytesWritten: written, ...(m ? { status: Number(m[1]) } : {}), body, closedBy });
    };
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs);
    sock.on('data', (d: Buffer) => {
      received += d.toString('utf8');
    });
    sock.on('close', () => finish(written >= opts.totalBytes ? 'client-limit' : 'agent'));
    sock.on('error', () => finish('agent'));
    sock.on('connect', () => {
      const head = opts.declared
        ? `POST ${SHIM_HTTP_PATH} HTTP/1.1\r\nHost: loom\r\nContent-Type: application/json\r\nContent-Length: ${opts.totalBytes}\r\n\r\n`
        : `POST ${SHIM_HTTP_PATH} HTTP/1.1\r\nHost: loom\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
      sock.write(head);
      // A short pause between pieces, so an early answer is read before our next write hits a socket
      // the agent has closed (a client that keeps writing would only see EPIPE).
      const pump = (): void => {
        if (settled || received !== '') return;
        if (written >= opts.totalBytes) {
          if (!opts.declared) sock.write('0\r\n\r\n');
          return;
        }
        const piece = opts.declared ? chunk : Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
        written += chunk.length;
        if (sock.write(piece)) setTimeout(pump, 2);
        else sock.once('drain', pump);
      };
      pump();
    });
  });
}
