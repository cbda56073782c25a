// One HTTP/1.1 POST to loom-agent over its unix socket. Transport outcomes are returned as data;
// deciding what they mean for CNI is outcome.ts's job.
//
// Written on `node:net` with a minimal HTTP/1.1 client instead of `node:http`: loading node:http
// costs ~50 ms of start-up on the machines we measured (more than the whole agent-side ADD), while
// node:net costs ~5 ms. The request is fixed (POST, Content-Length, Connection: close) and the peer
// is our own agent, so the response parser only needs: status line, headers, and a body framed by
// Content-Length, chunked encoding, or the end of the connection.
import { createConnection } from 'node:net';
import { SHIM_HTTP_PATH } from './protocol.js';

/** Upper bound for the agent's answer; anything larger is treated as malformed. */
export const MAX_REPLY_BYTES = 4 * 1024 * 1024;
/** Upper bound for the status line + headers. */
const MAX_HEAD_BYTES = 16 * 1024;

export type AgentReply =
  | { kind: 'reply'; status: number; body: string }
  /** Could not connect or the connection failed before an answer (ENOENT, ECONNREFUSED, EACCES, ECONNRESET...). */
  | { kind: 'unreachable'; errno: string; connected: boolean }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'reply-too-large'; limit: number };

export function encodeRequest(body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const head =
    `POST ${SHIM_HTTP_PATH} HTTP/1.1\r\n` +
    'Host: loom-agent\r\n' +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${payload.length}\r\n` +
    'Connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** What parseResponse found in the bytes received so far. */
export type ParsedResponse =
  | { state: 'complete'; status: number; body: Buffer }
  | { state: 'incomplete' }
  /** the connection ended before the response was complete */
  | { state: 'truncated'; why: string }
  | { state: 'malformed'; why: string };

/**
 * Parses an HTTP/1.1 response. `ended` says the peer closed the connection (a body without
 * Content-Length or chunked framing runs to the end of the connection).
 */
export function parseResponse(data: Buffer, ended: boolean): ParsedResponse {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (data.length > MAX_HEAD_BYTES) return { state: 'malformed', why: `no end of headers within ${MAX_HEAD_BYTES} bytes` };
    return ended ? { state: 'truncated', why: 'connection closed inside the response headers' } : { state: 'incomplete' };
  }
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!statusLine) return { state: 'malformed', why: `bad status line "${(lines[0] ?? '').slice(0, 80)}"` };
  const status = Number(statusLine[1]);
  let contentLength: number | undefined;
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return { state: 'malformed', why: `bad header line "${line.slice(0, 80)}"` };
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,10}$/.test(value)) return { state: 'malformed', why: `bad Content-Length "${value.slice(0, 20)}"` };
      contentLength = Number(value);
    } else if (name === 'transfer-encoding') {
      chunked = value.toLowerCase().split(',').map((s) => s.trim()).includes('chunked');
    }
  }
  const rest = data.subarray(headEnd + 4);
  if (chunked) return parseChunked(status, rest, ended);
  if (contentLength !== undefined) {
    if (rest.length >= contentLength) return { state: 'complete', status, body: rest.subarray(0, contentLength) };
    return ended ? { state: 'truncated', why: `connection closed after ${rest.length} of ${contentLength} body bytes` } : { state: 'incomplete' };
  }
  return ended ? { state: 'complete', status, body: rest } : { state: 'incomplete' };
}

function parseChunked(status: number, data: Buffer, ended: boolean): ParsedResponse {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const sizeText = data.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return { state: 'malformed', why: `bad chunk size "${sizeText.slice(0, 20)}"` };
    const size = parseInt(sizeText, 16);
    if (size === 0) return { state: 'complete', status, body: Buffer.concat(parts) };
    const start = lineEnd + 2;
    if (data.length < start + size + 2) break;
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
  return ended ? { state: 'truncated', why: 'connection closed inside a chunked body' } : { state: 'incomplete' };
}

export function postToAgent(socketPath: string, body: string, timeoutMs: number): Promise<AgentReply> {
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let received: Buffer[] = [];
    let size = 0;
    const socket = createConnection({ path: socketPath });
    const done = (reply: AgentReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      received = [];
      socket.destroy();
      resolve(reply);
    };
    /** Resolves when the bytes so far hold a whole (or malformed) response; returns whether it did. */
    const tryFinish = (ended: boolean): boolean => {
      const parsed = parseResponse(Buffer.concat(received), ended);
      if (parsed.state === 'incomplete' || parsed.state === 'truncated') return false;
      if (parsed.state === 'malformed') {
        done({ kind: 'reply', status: 0, body: `malformed HTTP answer: ${parsed.why}` });
        return true;
      }
      done({ kind: 'reply', status: parsed.status, body: parsed.body.toString('utf8') });
      return true;
    };
    const timer = setTimeout(() => done({ kind: 'timeout', timeoutMs }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      // write, not end: a half-closed request makes Node's HTTP server abort it (httpAllowHalfOpen).
      socket.write(encodeRequest(body));
    });
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY_BYTES + MAX_HEAD_BYTES) {
        done({ kind: 'reply-too-large', limit: MAX_REPLY_BYTES });
        return;
      }
      received.push(chunk);
      tryFinish(false);
    });
    socket.on('end', () => {
      if (!tryFinish(true)) done({ kind: 'unreachable', errno: 'ECONNRESET', connected });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The agent may answer (413) and reset while we are still sending: use the answer if it came.
      if (received.length > 0 && tryFinish(true)) return;
      done({ kind: 'unreachable', errno: err.code ?? err.message, connected });
    });
  });
}
