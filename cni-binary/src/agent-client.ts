// One HTTP/1.1 POST to loom-agent over its unix socket. Transport outcomes are returned as data;
// deciding what they mean for CNI is outcome.ts's job.
import { SHIM_HTTP_PATH } from './protocol.js';

/** Upper bound for the agent's answer; anything larger is treated as malformed. */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;

export type AgentReply =
  | { kind: 'reply'; status: number; body: string }
  /** Could not connect or the connection failed before an answer (ENOENT, ECONNREFUSED, EACCES, ECONNRESET...). */
  | { kind: 'unreachable'; errno: string; connected: boolean }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'reply-too-large'; limit: number };

export async function postToAgent(socketPath: string, body: string, timeoutMs: number): Promise<AgentReply> {
  // Loaded on first use: VERSION (called before every ADD/DEL by podman) must not pay for it.
  const http = await import('node:http');
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    const done = (reply: AgentReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
      req.destroy();
    };
    const req = http.request({
      socketPath,
      method: 'POST',
      path: SHIM_HTTP_PATH,
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      },
    });
    const timer = setTimeout(() => done({ kind: 'timeout', timeoutMs }), timeoutMs);
    req.on('socket', (socket) => socket.once('connect', () => { connected = true; }));
    req.on('error', (err: NodeJS.ErrnoException) => {
      done({ kind: 'unreachable', errno: err.code ?? err.message, connected });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_REPLY_BYTES) {
          done({ kind: 'reply-too-large', limit: MAX_REPLY_BYTES });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => done({ kind: 'reply', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err: NodeJS.ErrnoException) => done({ kind: 'unreachable', errno: err.code ?? err.message, connected: true }));
    });
    req.end(body);
  });
}
