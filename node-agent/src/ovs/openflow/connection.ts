// One OpenFlow 1.5 connection to ovs-vswitchd over a unix socket (the bridge's `<bridge>.mgmt`
// service socket): connect, HELLO exchange with version-bitmap negotiation (OpenFlow 1.5.1 section
// 7.5.1: both sides must offer 1.5), framing of the byte stream into messages by their 16-bit length,
// automatic ECHO_REPLY to the switch's keepalive ECHO_REQUESTs, and replies routed to their request
// by xid. Messages nobody waits for (asynchronous PORT_STATUS and the like) are dropped; ERRORs nobody
// waits for go to `onUnclaimedError` (a BUNDLE_ADD that fails has no reply of its own, only an error).
//
// The connection never reconnects by itself: once the socket closes every pending request fails with
// ConnectionLostError and `alive` turns false; the client opens a new connection on its next call.
import net from 'node:net';
import {
  OFP_HEADER_LEN,
  OFP_VERSION_1_5,
  OFPT,
  decodeError,
  decodeHeader,
  encodeEchoReply,
  encodeHello,
  helloVersions,
  type DecodedError,
} from './messages.js';

/** The socket closed (or failed) while requests were pending, or before a request could be sent. */
export class ConnectionLostError extends Error {}
/** No reply within the deadline; the connection is closed because its state is no longer known. */
export class OpenFlowTimeoutError extends Error {}

interface Waiter {
  resolve: (msg: Buffer) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class OpenFlowConnection {
  /** Called with every ERROR whose xid no request waits for. */
  onUnclaimedError: ((e: DecodedError) => void) | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiters = new Map<number, Waiter>();
  private xid = 0;
  private closed = false;
  private closeReason = 'connection closed';
  private handshake: { resolve: () => void; reject: (e: Error) => void } | null = null;
  /** Messages received that nobody waited for (asynchronous messages), for diagnostics. */
  unsolicited = 0;

  private constructor(
    private readonly socket: net.Socket,
    readonly path: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.closeReason = `socket error ${err.code ?? err.message}`;
    });
    socket.on('close', () => this.onClose());
  }

  /** Connects to `path`, exchanges HELLOs and checks that OpenFlow 1.5 was negotiated. */
  static async open(path: string, timeoutMs: number): Promise<OpenFlowConnection> {
    const socket = net.createConnection({ path });
    const conn = new OpenFlowConnection(socket, path);
    const timer = setTimeout(() => {
      conn.fail(new OpenFlowTimeoutError(`no OpenFlow HELLO from unix:${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        conn.handshake = { resolve, reject };
        socket.once('connect', () => {
          socket.write(encodeHello(conn.nextXid()));
        });
      });
    } catch (e) {
      conn.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    // An idle persistent connection must not keep a process alive; pending requests hold timers that do.
    socket.unref();
    return conn;
  }

  get alive(): boolean {
    return !this.closed;
  }

  /** A fresh transaction id (never 0). */
  nextXid(): number {
    this.xid = this.xid >= 0xffffffff ? 1 : this.xid + 1;
    return this.xid;
  }

  /** Writes messages in one go; throws ConnectionLostError when the socket is already closed. */
  send(messages: Buffer | Buffer[]): void {
    if (this.closed) throw new ConnectionLostError(`OpenFlow connection to unix:${this.path} is closed (${this.closeReason})`);
    this.socket.write(Array.isArray(messages) ? Buffer.concat(messages) : messages);
  }

  /**
   * Resolves with the next message carrying `xid` (a reply or an ERROR). Register before sending.
   * Rejects with OpenFlowTimeoutError after `timeoutMs` (and closes the connection) or with
   * ConnectionLostError when the socket closes first.
   */
  expect(xid: number, timeoutMs: number, what: string): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ConnectionLostError(`OpenFlow connection to unix:${this.path} is closed (${this.closeReason})`));
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(xid);
        const err = new OpenFlowTimeoutError(`no reply to ${what} (xid ${xid}) from unix:${this.path} within ${timeoutMs} ms`);
        reject(err);
        this.fail(err);
      }, timeoutMs);
      this.waiters.set(xid, { resolve, reject, timer });
    });
  }

  /** Forgets a registered expectation (its reply, if any, is then dropped). */
  cancel(xid: number): void {
    const w = this.waiters.get(xid);
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.waiters.delete(xid);
  }

  close(): void {
    this.fail(new ConnectionLostError(`OpenFlow connection to unix:${this.path} was closed by the client`));
  }

  private fail(err: Error): void {
    if (!this.closed) this.closeReason = err.message;
    this.socket.destroy();
    this.onClose(err);
  }

  private onClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const e = err ?? new ConnectionLostError(`OpenFlow connection to unix:${this.path} lost (${this.closeReason})`);
    if (this.handshake !== null) {
      const { reject } = this.handshake;
      this.handshake = null;
      reject(e instanceof OpenFlowTimeoutError ? e : new ConnectionLostError(`cannot connect to unix:${this.path} (${this.closeReason})`));
    }
    for (const [xid, w] of this.waiters) {
      clearTimeout(w.timer);
      this.waiters.delete(xid);
      w.reject(e);
    }
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= OFP_HEADER_LEN) {
      const length = this.buf.readUInt16BE(2);
      if (length < OFP_HEADER_LEN) {
        this.fail(new ConnectionLostError(`malformed OpenFlow message (length ${length}) from unix:${this.path}`));
        return;
      }
      if (this.buf.length < length) return;
      const msg = this.buf.subarray(0, length);
      this.buf = this.buf.subarray(length);
      this.dispatch(msg);
      if (this.closed) return;
    }
  }

  private dispatch(msg: Buffer): void {
    const h = decodeHeader(msg);
    if (this.handshake !== null) {
      const { resolve, reject } = this.handshake;
      if (h.type === OFPT.HELLO && helloVersions(msg).has(OFP_VERSION_1_5)) {
        this.handshake = null;
        resolve();
        return;
      }
      const why = h.type === OFPT.HELLO
        ? `the switch offers OpenFlow versions ${[...helloVersions(msg)].map((v) => `0x${v.toString(16)}`).join(', ')} but not 1.5 (0x06)`
        : h.type === OFPT.ERROR ? `the switch answered ${decodeError(msg).name}` : `unexpected message type ${h.type} before HELLO`;
      this.handshake = null;
      reject(new Error(`OpenFlow 1.5 negotiation with unix:${this.path} failed: ${why}; the bridge's "protocols" column must include OpenFlow15`));
      this.fail(new ConnectionLostError('version negotiation failed'));
      return;
    }
    if (h.version !== OFP_VERSION_1_5) {
      this.fail(new ConnectionLostError(`OpenFlow message of version 0x${h.version.toString(16)} on a 1.5 connection to unix:${this.path}`));
      return;
    }
    if (h.type === OFPT.ECHO_REQUEST) {
      this.socket.write(encodeEchoReply(msg));
      return;
    }
    const w = this.waiters.get(h.xid);
    if (w !== undefined) {
      clearTimeout(w.timer);
      this.waiters.delete(h.xid);
      // Copy: the receive buffer is reused for the next chunk's concatenation.
      w.resolve(Buffer.from(msg));
      return;
    }
    if (h.type === OFPT.ERROR) {
      this.onUnclaimedError?.(decodeError(Buffer.from(msg)));
      return;
    }
    this.unsolicited++;
  }
}
