// A scriptable OpenFlow 1.5 "switch" on a unix socket, for tests that need no root and no OVS:
// it answers HELLO, ECHO, BARRIER, BUNDLE_CONTROL (open/commit/discard, bundles kept per connection
// as OVS does) and the two multipart requests ovs-ofctl sends before a bundle (table features, port
// description), records every message, and can be told to refuse an add, fail a commit, stay
// silent or drop connections. Used to capture what `ovs-ofctl bundle` puts on the wire and to drive
// the native client through error paths a real switch rarely shows.
import { execa } from 'execa';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_DIR_PREFIX } from './netns.js';

const OFP15 = 6;
const T = { HELLO: 0, ERROR: 1, ECHO_REQUEST: 2, ECHO_REPLY: 3, MULTIPART_REQUEST: 18, MULTIPART_REPLY: 19, BARRIER_REQUEST: 20, BARRIER_REPLY: 21, BUNDLE_CONTROL: 33, BUNDLE_ADD: 34 } as const;

function header(type: number, length: number, xid: number, version = OFP15): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(version, 0);
  b.writeUInt8(type, 1);
  b.writeUInt16BE(length, 2);
  b.writeUInt32BE(xid, 4);
  return b;
}

/** OFPT_ERROR with the failed request (first 64 bytes) as data. */
export function errorMessage(xid: number, type: number, code: number, failed: Buffer): Buffer {
  const data = failed.subarray(0, 64);
  const body = Buffer.alloc(4);
  body.writeUInt16BE(type, 0);
  body.writeUInt16BE(code, 2);
  return Buffer.concat([header(T.ERROR, 12 + data.length, xid), body, data]);
}

export interface AddRefusal {
  type: number;
  code: number;
}

interface Conn {
  id: number;
  socket: net.Socket;
  bundles: Map<number, Buffer[]>;
}

export class FakeOfSwitch {
  /** Every message received, with the number of the connection it came on (1-based). */
  readonly received: Array<{ conn: number; msg: Buffer }> = [];
  /** The FLOW_MODs (inner messages) of every committed bundle, one array per commit. */
  readonly committed: Buffer[][] = [];
  discarded = 0;
  connections = 0;
  /** Versions offered in HELLO (bitmap). */
  versions: number[] = [OFP15];
  /** Refuse a BUNDLE_ADD (index = position of the add in its bundle): an ERROR with the add's xid. */
  onAdd: ((inner: Buffer, index: number) => AddRefusal | undefined) | null = null;
  /** Fail a commit at message `index` of the bundle: ERROR for that inner message, then OFPBFC_MSG_FAILED. */
  onCommit: ((inners: Buffer[]) => ({ index: number } & AddRefusal) | undefined) | null = null;
  /** Destroy the connection instead of handling this message. */
  dropOn: ((msg: Buffer) => boolean) | null = null;
  /** Answer nothing but HELLO (to make clients time out). */
  silent = false;
  private readonly conns = new Set<Conn>();
  private echoWaiters = new Map<number, (b: Buffer) => void>();

  private constructor(
    private readonly server: net.Server,
    readonly dir: string,
    readonly path: string,
  ) {}

  static async start(): Promise<FakeOfSwitch> {
    const dir = await mkdtemp(join(tmpdir(), `${TEST_DIR_PREFIX}ofsw-`));
    const path = join(dir, 'br-int.mgmt');
    const server = net.createServer();
    const sw = new FakeOfSwitch(server, dir, path);
    server.on('connection', (s) => sw.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    return sw;
  }

  get target(): string {
    return `unix:${this.path}`;
  }

  /** Messages of one type, in arrival order. */
  messages(type: number): Buffer[] {
    return this.received.filter((r) => r.msg.readUInt8(1) === type).map((r) => r.msg);
  }

  /** Sends ECHO_REQUEST on every open connection and resolves with the first reply. */
  echo(payload: Buffer): Promise<Buffer> {
    const xid = 0x7e570000 + this.echoWaiters.size;
    const p = new Promise<Buffer>((resolve) => this.echoWaiters.set(xid, resolve));
    for (const c of this.conns) c.socket.write(Buffer.concat([header(T.ECHO_REQUEST, 8 + payload.length, xid), payload]));
    return p;
  }

  /** Closes every client connection (what an ovs-vswitchd restart looks like to a client). */
  dropAll(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  private accept(socket: net.Socket): void {
    const conn: Conn = { id: ++this.connections, socket, bundles: new Map() };
    this.conns.add(conn);
    socket.on('error', () => undefined);
    socket.on('close', () => this.conns.delete(conn));
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8 && buf.length >= buf.readUInt16BE(2)) {
        const len = buf.readUInt16BE(2);
        const msg = Buffer.from(buf.subarray(0, len));
        buf = buf.subarray(len);
        this.received.push({ conn: conn.id, msg });
        if (this.dropOn?.(msg)) {
          socket.destroy();
          return;
        }
        this.handle(conn, msg);
      }
    });
  }

  private handle(conn: Conn, msg: Buffer): void {
    const type = msg.readUInt8(1);
    const xid = msg.readUInt32BE(4);
    const send = (b: Buffer) => conn.socket.write(b);
    if (type === T.HELLO) {
      const bitmap = this.versions.reduce((acc, v) => acc | (1 << v), 0) >>> 0;
      const el = Buffer.alloc(8);
      el.writeUInt16BE(1, 0);
      el.writeUInt16BE(8, 2);
      el.writeUInt32BE(bitmap, 4);
      send(Buffer.concat([header(T.HELLO, 16, xid, Math.max(...this.versions)), el]));
      return;
    }
    if (type === T.ECHO_REPLY) {
      this.echoWaiters.get(xid)?.(msg);
      this.echoWaiters.delete(xid);
      return;
    }
    if (this.silent) return;
    switch (type) {
      case T.ECHO_REQUEST:
        send(Buffer.concat([header(T.ECHO_REPLY, msg.length, xid), msg.subarray(8)]));
        return;
      case T.BARRIER_REQUEST:
        send(header(T.BARRIER_REPLY, 8, xid));
        return;
      case T.MULTIPART_REQUEST: {
        const mpType = msg.readUInt16BE(8);
        if (mpType === 12) {
          // one ofp13_table_features (64 bytes, no properties): ovs-ofctl needs at least one
          const r = Buffer.alloc(80);
          header(T.MULTIPART_REPLY, 80, xid).copy(r, 0);
          r.writeUInt16BE(12, 8);
          r.writeUInt16BE(64, 16);
          r.write('t0', 24);
          send(r);
        } else if (mpType === 13) {
          // one ofp14_port (40 bytes, no properties)
          const r = Buffer.alloc(56);
          header(T.MULTIPART_REPLY, 56, xid).copy(r, 0);
          r.writeUInt16BE(13, 8);
          r.writeUInt32BE(1, 16);
          r.writeUInt16BE(40, 20);
          r.write('p1', 32);
          send(r);
        } else {
          send(errorMessage(xid, 1, 2, msg)); // OFPBRC_BAD_STAT
        }
        return;
      }
      case T.BUNDLE_CONTROL: {
        const id = msg.readUInt32BE(8);
        const ctl = msg.readUInt16BE(12);
        const flags = msg.readUInt16BE(14);
        const reply = (t: number) => {
          const r = Buffer.alloc(16);
          header(T.BUNDLE_CONTROL, 16, xid).copy(r, 0);
          r.writeUInt32BE(id, 8);
          r.writeUInt16BE(t, 12);
          r.writeUInt16BE(flags, 14);
          send(r);
        };
        if (ctl === 0) {
          if (conn.bundles.has(id)) {
            send(errorMessage(xid, 17, 3, msg)); // OFPBFC_BUNDLE_EXIST
            return;
          }
          conn.bundles.set(id, []);
          reply(1);
        } else if (ctl === 4) {
          const inners = conn.bundles.get(id);
          conn.bundles.delete(id);
          if (inners === undefined) {
            send(errorMessage(xid, 17, 2, msg)); // OFPBFC_BAD_ID
            return;
          }
          const fail = this.onCommit?.(inners);
          if (fail !== undefined) {
            const inner = inners[fail.index]!;
            send(errorMessage(inner.readUInt32BE(4), fail.type, fail.code, inner));
            send(errorMessage(xid, 17, 13, msg)); // OFPBFC_MSG_FAILED
            return;
          }
          this.committed.push(inners);
          reply(5);
        } else if (ctl === 6) {
          if (!conn.bundles.delete(id)) {
            send(errorMessage(xid, 17, 2, msg));
            return;
          }
          this.discarded++;
          reply(7);
        } else {
          send(errorMessage(xid, 17, 6, msg)); // OFPBFC_BAD_TYPE
        }
        return;
      }
      case T.BUNDLE_ADD: {
        const id = msg.readUInt32BE(8);
        const inner = msg.subarray(16);
        const list = conn.bundles.get(id) ?? [];
        const refusal = this.onAdd?.(inner, list.length);
        if (refusal !== undefined) {
          // as OVS: an error with the add's xid, and the bundle stays open without the message
          send(errorMessage(xid, refusal.type, refusal.code, msg));
          conn.bundles.set(id, list);
          return;
        }
        list.push(Buffer.from(inner));
        conn.bundles.set(id, list);
        return;
      }
      default:
        send(errorMessage(xid, 1, 1, msg)); // OFPBRC_BAD_TYPE
    }
  }
}

/** Runs `ovs-ofctl -O OpenFlow15 bundle <switch> -` with `text` on stdin against the fake switch. */
export async function ofctlBundleAgainst(sw: FakeOfSwitch, text: string): Promise<void> {
  await execa('ovs-ofctl', ['-O', 'OpenFlow15', 'bundle', sw.target, '-'], { input: text, timeout: 20000 });
}
