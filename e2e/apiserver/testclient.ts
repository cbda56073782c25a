// A small raw HTTPS client for tests of (and against) the test API server: plain requests and
// watch streams read event by event. Certificates are not verified (the server's is self-signed).
import { request } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { JsonValue, WatchEvent } from './types.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (null when empty or not JSON). */
  body: JsonValue;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  token?: string;
}

function open(baseUrl: string, method: string, path: string, options: RequestOptions): Promise<IncomingMessage> {
  const url = new URL(path, baseUrl);
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  let payload: string | undefined;
  if (options.body !== undefined) {
    payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['Content-Type'] = options.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  if (options.token) headers['Authorization'] = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, rejectUnauthorized: false, agent: false }, resolve);
    req.on('error', reject);
    req.end(payload);
  });
}

export async function apiRequest(baseUrl: string, method: string, path: string, options: RequestOptions = {}): Promise<RawResponse> {
  const res = await open(baseUrl, method, path, options);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  let body: JsonValue = null;
  try {
    body = text === '' ? null : (JSON.parse(text) as JsonValue);
  } catch {
    body = null;
  }
  return { status: res.statusCode ?? 0, headers: res.headers, body, text };
}

export interface WatchStream {
  status: number;
  /** The next event; rejects if none arrives within waitMs (a hang guard, not a timing check) or the stream ended. */
  next(waitMs?: number): Promise<WatchEvent>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

export async function openWatch(baseUrl: string, path: string, options: RequestOptions = {}): Promise<WatchStream> {
  const res = await open(baseUrl, 'GET', path, options);
  const queue: WatchEvent[] = [];
  const waiters: { resolve: (e: WatchEvent) => void; reject: (err: Error) => void }[] = [];
  let done = false;
  let buffered = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as WatchEvent;
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(event);
      else queue.push(event);
    }
  });
  const ended = new Promise<void>((resolve) => {
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const w of waiters.splice(0)) w.reject(new Error('watch stream ended before the next event'));
      resolve();
    };
    res.on('end', finish);
    res.on('close', finish);
    res.on('error', finish);
  });
  return {
    status: res.statusCode ?? 0,
    ended,
    next(waitMs = 5000): Promise<WatchEvent> {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (done) return Promise.reject(new Error('watch stream ended before the next event'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no watch event within ${waitMs} ms on ${path}`)), waitMs);
        waiters.push({
          resolve: (e) => { clearTimeout(timer); resolve(e); },
          reject: (err) => { clearTimeout(timer); reject(err); },
        });
      });
    },
    close(): void {
      res.destroy();
    },
  };
}
