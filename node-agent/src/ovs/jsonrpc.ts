// JSON-RPC 1.0 over a unix stream socket, as OVSDB speaks it (RFC 7047 section 4): back-to-back JSON
// objects without delimiters, requests matched to replies by id, "echo" requests answered, one timeout
// per request, one persistent connection re-established with exponential backoff when it breaks.
import { createConnection, type Socket } from 'node:net';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface JsonRpcOptions {
  /** per-request timeout, also how long a request waits for a reconnection (default 5000 ms) */
  requestTimeoutMs?: number;
  /** first and longest delay between reconnection attempts (defaults 50 and 2000 ms) */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
}

/** Splits a character stream into complete top-level JSON texts (objects or arrays). */
export class JsonStreamSplitter {
  private buf = '';
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Adds text and returns every JSON text completed by it. */
  push(chunk: string): string[] {
    this.buf += chunk;
    const out: string[] = [];
    let start = 0;
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) {
          out.push(this.buf.slice(start, i + 1).trim());
          start = i + 1;
        } else if (this.depth < 0) {
          throw new Error(`malformed JSON-RPC stream: unbalanced "${c}" near ${JSON.stringify(this.buf.slice(Math.max(0, i - 40), i + 1))}`);
        }
      }
    }
    this.buf = this.buf.slice(start);
    this.scanned = this.buf.length;
    if (this.depth === 0 && this.buf.trim() === '') {
      this.buf = '';
      this.scanned = 0;
    }
    return out;
  }
}

interface Pending {
  method: string;
  resolve: (v: Json) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class JsonRpcError extends Error {
  constructor(message: string, readonly rpcError: Json) {
    super(message);
  }
}

/** A persistent JSON-RPC connection. Create with `JsonRpcConnection.open(path)`. */
export class JsonRpcConnection {
  private socket: Socket | null = null;
  private connected = false;
  private closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private connectWaiters: Array<() => void> = [];
  private backoffMs: number;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly requestTimeoutMs: number;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  /** called after every successful reconnection (not the first connection) */
  onReconnect: (() => void) | null = null;

  private constructor(readonly path: string, opts: JsonRpcOptions) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.reconnectMinMs = opts.reconnectMinMs ?? 50;
    this.reconnectMaxMs = opts.reconnectMaxMs ?? 2000;
    this.backoffMs = this.reconnectMinMs;
  }

  /** Connects once; fails fast (with the socket path in the message) when nobody listens. */
  static async open(path: string, opts: JsonRpcOptions = {}): Promise<JsonRpcConnection> {
    const conn = new JsonRpcConnection(path, opts);
    await conn.connectOnce();
    return conn;
  }

  isConnected(): boolean {
    return this.connected;
  }

  private connectOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path: this.path });
      socket.setEncoding('utf8');
      const splitter = new JsonStreamSplitter();
      let opened = false;
      socket.once('connect', () => {
        opened = true;
        this.socket = socket;
        this.connected = true;
        this.backoffMs = this.reconnectMinMs;
        const waiters = this.connectWaiters;
        this.connectWaiters = [];
        waiters.forEach((w) => w());
        resolve();
      });
      socket.on('data', (chunk: string) => {
        let texts: string[];
        try {
          texts = splitter.push(chunk);
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
        for (const t of texts) this.handleMessage(t);
      });
      socket.on('error', (err) => {
        if (!opened) reject(new Error(`cannot connect to OVSDB at ${this.path}: ${err.message} (is ovsdb-server running with this socket?)`));
      });
      socket.on('close', () => {
        if (!opened) return;
        this.connected = false;
        this.socket = null;
        this.failPending(`connection to ${this.path} lost`);
        this.scheduleReconnect();
      });
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== null) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.reconnectMaxMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed) return;
      this.connectOnce().then(
        () => this.onReconnect?.(),
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(new Error(`OVSDB ${p.method} not answered: ${reason}; it may or may not have been applied, retry it (Loom's operations are idempotent)`));
    }
  }

  private handleMessage(text: string): void {
    let msg: Json;
    try {
      msg = JSON.parse(text) as Json;
    } catch {
      this.socket?.destroy(new Error(`OVSDB sent invalid JSON: ${text.slice(0, 200)}`));
      return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return;
    if (typeof msg.method === 'string') {
      // A request or notification from the server. Answer echo (the server's keepalive); ignore the rest.
      if (msg.method === 'echo' && msg.id !== undefined && msg.id !== null) {
        this.write({ id: msg.id, result: msg.params ?? [], error: null });
      }
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number') return;
    const p = this.pending.get(id);
    if (p === undefined) return; // reply to a request that already timed out
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (msg.error !== null && msg.error !== undefined) {
      p.reject(new JsonRpcError(`OVSDB ${p.method} failed: ${JSON.stringify(msg.error)}`, msg.error));
    } else {
      p.resolve(msg.result ?? null);
    }
  }

  private write(msg: Json): void {
    this.socket?.write(JSON.stringify(msg));
  }

  private waitConnected(deadline: number, method: string): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error(`OVSDB connection to ${this.path} is closed`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectWaiters = this.connectWaiters.filter((w) => w !== waiter);
        reject(new Error(`OVSDB ${method}: not connected to ${this.path} (reconnecting); check that ovsdb-server runs`));
      }, Math.max(0, deadline - Date.now()));
      const waiter = () => {
        clearTimeout(timer);
        resolve();
      };
      this.connectWaiters.push(waiter);
    });
  }

  /** Sends a request and resolves with its result; rejects on error, timeout or lost connection. */
  async request(method: string, params: Json[], timeoutMs = this.requestTimeoutMs): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    await this.waitConnected(deadline, method);
    const id = this.nextId++;
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`OVSDB ${method} timed out after ${timeoutMs} ms (socket ${this.path}); is ovsdb-server overloaded or stuck?`));
      }, Math.max(1, deadline - Date.now()));
      this.pending.set(id, { method, resolve, reject, timer });
      this.write({ method, params, id });
    });
  }

  /** Closes the connection for good; pending requests are rejected. Safe to call twice. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.failPending('client closed');
    this.socket?.destroy();
    this.socket = null;
    this.connected = false;
  }
}
