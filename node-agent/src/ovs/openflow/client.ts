// NativeOpenFlowClient: applies FlowOp bundles over one persistent OpenFlow 1.5 connection instead of
// one `ovs-ofctl bundle` process per change. Same contract as OpenFlowClient.applyBundle (ofctl.ts):
// all ops in one atomic, ordered bundle; identical validation errors (renderBundle runs first); an
// empty list is a no-op. Ops the native encoder cannot express (a dumped match string outside
// renderMatch's canonical syntax, a move naming a field the encoder does not know) send that bundle
// through ovs-ofctl instead.
//
// One bundle on the wire (OpenFlow 1.5.1 section 7.3.9):
//   BUNDLE_CONTROL OPEN, BUNDLE_ADD_MESSAGE x n (each wrapping a FLOW_MOD with the same xid), BARRIER
//   -> wait for the barrier reply. OVS decodes each FLOW_MOD when it is added and answers a bad one
//   with an ERROR carrying its xid, but keeps the bundle open without it (ofproto handle_bundle_add),
//   so committing after an add error would apply the rest: the barrier makes every add error arrive
//   before we decide. Any error -> BUNDLE_CONTROL DISCARD and a rejection naming the op; else COMMIT
//   and wait for COMMIT_REPLY. A commit-time failure (e.g. table full) comes as an ERROR with the
//   failing FLOW_MOD's xid followed by OFPBFC_MSG_FAILED for the commit; OVS then rolls back.
//
// Connection handling: connects lazily, reuses the connection for every bundle, and reconnects on the
// next call after the socket died (ovs-vswitchd restarts; the agent replays flows itself). If the
// connection is lost before COMMIT was sent nothing can have been applied (OVS drops a connection's
// open bundles with it), so the bundle is retried once on a new connection. Lost or timed out after
// COMMIT: the outcome is unknown and the error says so. Calls are serialised (one bundle at a time).
import { logger } from '../../util/log.js';
import { OpenFlowClient, renderBundle, type FlowOp } from '../ofctl.js';
import { checkIfName, checkUint, invalid } from '../validate.js';
import { ConnectionLostError, OpenFlowConnection, OpenFlowTimeoutError } from './connection.js';
import { NotNativelyEncodable } from './oxm.js';
import { parseDumpedMatch } from './match-text.js';
import {
  OFP_MAX_MESSAGE,
  OFPBCT,
  OFPBF_ATOMIC,
  OFPBF_ORDERED,
  OFPT,
  decodeBundleControl,
  decodeError,
  decodeHeader,
  encodeBarrierRequest,
  encodeBundleAdd,
  encodeBundleControl,
  encodeFlowMod,
  type DecodedError,
  type NativeFlowOp,
} from './messages.js';

const log = logger('openflow');

/** Default directory of OVS sockets, as ovs-ofctl resolves a bare bridge name. */
const DEFAULT_RUNDIR = '/var/run/openvswitch';
const BUNDLE_FLAGS = OFPBF_ATOMIC | OFPBF_ORDERED;
/** BUNDLE_ADD_MESSAGE header + bundle_id + pad + flags in front of the wrapped FLOW_MOD. */
const BUNDLE_ADD_OVERHEAD = 16;

export interface NativeOpenFlowClientOptions {
  bridge: string;
  /** `unix:/path/BRIDGE.mgmt` (only unix targets); default derived from rundir */
  target?: string;
  /** OVS run directory holding `<bridge>.mgmt` (default $OVS_RUNDIR or /var/run/openvswitch) */
  rundir?: string;
  /** deadline for one whole bundle, reply included (default 20000 ms, as OpenFlowClient) */
  timeoutMs?: number;
  /** deadline for connect + HELLO (default 5000 ms) */
  connectTimeoutMs?: number;
  /** client used for bundles that cannot be encoded natively (default: an OpenFlowClient on the same target) */
  fallback?: OpenFlowClient;
}

/** A bundle ovs-vswitchd refused (when adding a message or at commit); nothing from it was applied. */
export class OpenFlowBundleError extends Error {
  constructor(
    message: string,
    /** index in the ops array of the op OVS named, when it named one */
    readonly opIndex: number | undefined,
    readonly error: DecodedError | undefined,
  ) {
    super(message);
  }
}

/** Counters, for tests and metrics. */
export interface NativeOpenFlowStats {
  /** bundles sent natively and committed */
  bundles: number;
  /** connections opened (1 while the switch stays up) */
  connects: number;
  /** bundles retried on a new connection after the old one died before commit */
  retries: number;
  /** bundles sent through ovs-ofctl because an op could not be encoded natively */
  fallbacks: number;
}

/** Thrown inside one attempt when the connection died before COMMIT was sent: safe to retry. */
class LostBeforeCommit extends Error {}

export class NativeOpenFlowClient {
  readonly bridge: string;
  readonly target: string;
  readonly socketPath: string;
  readonly stats: NativeOpenFlowStats = { bundles: 0, connects: 0, retries: 0, fallbacks: 0 };
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private fallbackClient: OpenFlowClient | undefined;
  private conn: OpenFlowConnection | null = null;
  private connecting: Promise<OpenFlowConnection> | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private bundleId = 0;
  private closed = false;

  constructor(opts: NativeOpenFlowClientOptions) {
    this.bridge = checkIfName('bridge name', opts.bridge);
    if (opts.target !== undefined) {
      if (!/^unix:\/[^\s]+$/.test(opts.target)) throw invalid('OpenFlow target', opts.target, 'unix:/path/BRIDGE.mgmt (the native client only speaks to unix sockets)');
      this.target = opts.target;
    } else {
      const rundir = opts.rundir ?? process.env.OVS_RUNDIR ?? DEFAULT_RUNDIR;
      if (!rundir.startsWith('/') || /\s/.test(rundir)) throw invalid('OVS rundir', rundir, 'an absolute path without spaces');
      this.target = `unix:${rundir.replace(/\/$/, '')}/${this.bridge}.mgmt`;
    }
    this.socketPath = this.target.slice('unix:'.length);
    this.timeoutMs = checkUint('OpenFlow bundle timeout (ms)', opts.timeoutMs ?? 20000, 3_600_000, 1);
    this.connectTimeoutMs = checkUint('OpenFlow connect timeout (ms)', opts.connectTimeoutMs ?? 5000, 3_600_000, 1);
    this.fallbackClient = opts.fallback;
  }

  /** Applies all ops in one atomic bundle (all or nothing). No-op for an empty list. */
  async applyBundle(ops: FlowOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (this.closed) throw new Error(`NativeOpenFlowClient for ${this.target} is closed`);
    // Same validation, same errors as the ovs-ofctl path, before anything is queued.
    renderBundle(ops);
    const native = this.encode(ops);
    const run = native === null ? () => this.viaOfctl(ops) : () => this.sendWithRetry(ops, native);
    // Queued synchronously (before the first await), so calls keep their order.
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    await result;
  }

  /** Closes the connection; later calls fail. */
  close(): void {
    this.closed = true;
    this.conn?.close();
    this.conn = null;
  }

  /** FLOW_MODs (xid 0, patched at send time), or null when some op needs the ovs-ofctl path. */
  private encode(ops: FlowOp[]): Buffer[] | null {
    const out: Buffer[] = [];
    for (const [i, op] of ops.entries()) {
      let nop: NativeFlowOp;
      if (op.op === 'deleteStrict' && typeof op.match === 'string') {
        const match = parseDumpedMatch(op.match);
        if (match === null) {
          log.debug('dumped match not in canonical syntax, bundle goes through ovs-ofctl', { match: op.match });
          return null;
        }
        nop = { op: 'deleteStrict', table: op.table, priority: op.priority, match };
      } else {
        nop = op as NativeFlowOp;
      }
      let msg: Buffer;
      try {
        msg = encodeFlowMod(0, nop);
      } catch (e) {
        if (e instanceof NotNativelyEncodable) {
          log.debug('op not encodable natively, bundle goes through ovs-ofctl', { reason: e.message });
          return null;
        }
        throw new Error(`flow op ${i + 1} of ${ops.length} (${opText(op)}): ${(e as Error).message}`);
      }
      if (msg.length + BUNDLE_ADD_OVERHEAD > OFP_MAX_MESSAGE) {
        throw new Error(`flow op ${i + 1} of ${ops.length} (${opText(op).slice(0, 200)}...) is ${msg.length} bytes as a FLOW_MOD, more than one OpenFlow message can carry; split its actions over several flows`);
      }
      out.push(msg);
    }
    return out;
  }

  private async viaOfctl(ops: FlowOp[]): Promise<void> {
    this.fallbackClient ??= new OpenFlowClient({ bridge: this.bridge, target: this.target });
    this.stats.fallbacks++;
    await this.fallbackClient.applyBundle(ops);
  }

  private async sendWithRetry(ops: FlowOp[], flowMods: Buffer[]): Promise<void> {
    try {
      await this.sendBundle(ops, flowMods);
    } catch (e) {
      if (!(e instanceof LostBeforeCommit)) throw e;
      if (this.closed) throw new Error(`OpenFlow bundle on ${this.target} not applied: the client was closed while sending it`);
      // Nothing was committed: OVS discards a connection's open bundles when it goes away.
      log.info('OpenFlow connection lost before commit; retrying the bundle on a new connection', { target: this.target, reason: e.message });
      this.stats.retries++;
      try {
        await this.sendBundle(ops, flowMods);
      } catch (e2) {
        if (e2 instanceof LostBeforeCommit) {
          throw new Error(`OpenFlow bundle on ${this.target} not applied: the connection was lost twice before commit (${e2.message}); check that ovs-vswitchd runs and bridge ${this.bridge} exists`);
        }
        throw e2;
      }
    }
  }

  private async connection(): Promise<OpenFlowConnection> {
    if (this.closed) throw new Error(`NativeOpenFlowClient for ${this.target} is closed`);
    if (this.conn?.alive) return this.conn;
    this.conn = null;
    this.connecting ??= (async () => {
      try {
        const c = await OpenFlowConnection.open(this.socketPath, this.connectTimeoutMs);
        if (this.closed) {
          c.close();
          throw new Error('the client was closed while connecting');
        }
        this.stats.connects++;
        log.debug('OpenFlow 1.5 connection open', { target: this.target, connects: this.stats.connects });
        this.conn = c;
        return c;
      } catch (e) {
        throw new Error(`OpenFlow bundle not applied: ${(e as Error).message}; check that ovs-vswitchd runs and bridge ${this.bridge} exists`);
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  private async sendBundle(ops: FlowOp[], flowMods: Buffer[]): Promise<void> {
    const conn = await this.connection();
    const addErrors: DecodedError[] = [];
    // A BUNDLE_ADD has no reply of its own: only its ERROR (same xid) comes back, unclaimed.
    conn.onUnclaimedError = (e) => addErrors.push(e);
    try {
      await this.bundleOn(conn, ops, flowMods, addErrors);
    } finally {
      conn.onUnclaimedError = null;
    }
  }

  private async bundleOn(conn: OpenFlowConnection, ops: FlowOp[], flowMods: Buffer[], addErrors: DecodedError[]): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    this.bundleId = this.bundleId >= 0xffffffff ? 1 : this.bundleId + 1;
    const bundleId = this.bundleId;
    const opByXid = new Map<number, number>();

    const openXid = conn.nextXid();
    const messages: Buffer[] = [encodeBundleControl(openXid, bundleId, OFPBCT.OPEN_REQUEST, BUNDLE_FLAGS)];
    flowMods.forEach((fm, i) => {
      const xid = conn.nextXid();
      opByXid.set(xid, i);
      const inner = Buffer.from(fm);
      inner.writeUInt32BE(xid, 4);
      messages.push(encodeBundleAdd(bundleId, BUNDLE_FLAGS, inner));
    });
    const barrierXid = conn.nextXid();
    messages.push(encodeBarrierRequest(barrierXid));

    // Failures before COMMIT is sent: nothing can have been applied.
    const beforeCommit = (e: unknown): never => {
      if (e instanceof ConnectionLostError) throw new LostBeforeCommit(e.message);
      if (e instanceof OpenFlowTimeoutError) throw new Error(`OpenFlow bundle on ${this.target} not applied: ${e.message} (the connection was closed, which discards the uncommitted bundle)`);
      throw e;
    };
    const openReply = conn.expect(openXid, left(), 'BUNDLE_CONTROL OPEN');
    const barrier = conn.expect(barrierXid, left(), 'BARRIER after the bundle adds');
    try {
      conn.send(messages);
    } catch (e) {
      // Both expectations fail with the same cause; keep their rejections from going unhandled.
      openReply.catch(() => undefined);
      barrier.catch(() => undefined);
      beforeCommit(e);
    }
    // The barrier reply comes after the open reply and after every add error (OVS answers in order).
    const [open, barrierDone] = await Promise.allSettled([openReply, barrier]);
    if (open.status === 'rejected') beforeCommit(open.reason);
    if (barrierDone.status === 'rejected') beforeCommit(barrierDone.reason);
    const openMsg = (open as PromiseFulfilledResult<Buffer>).value;
    if (decodeHeader(openMsg).type === OFPT.ERROR) {
      const err = decodeError(openMsg);
      // The adds may have created the bundle implicitly (OVS does so for an unknown id): discard it.
      await this.discard(conn, bundleId, left());
      throw new OpenFlowBundleError(`ovs-vswitchd refused to open an OpenFlow bundle on ${this.target}: ${err.name}; nothing was applied`, undefined, err);
    }
    checkControlReply(conn, openMsg, OFPBCT.OPEN_REPLY, bundleId, 'OPEN');

    if (addErrors.length > 0) {
      await this.discard(conn, bundleId, left());
      throw this.rejection(ops, addErrors, opByXid, 'when adding it to the bundle');
    }

    const commitXid = conn.nextXid();
    const reply = conn.expect(commitXid, left(), 'BUNDLE_CONTROL COMMIT');
    try {
      conn.send(encodeBundleControl(commitXid, bundleId, OFPBCT.COMMIT_REQUEST, BUNDLE_FLAGS));
    } catch (e) {
      // The socket was already closed: COMMIT never left, and OVS dropped the bundle with the connection.
      reply.catch(() => undefined);
      beforeCommit(e);
    }
    let commitMsg: Buffer;
    try {
      commitMsg = await reply;
    } catch (e) {
      if (e instanceof ConnectionLostError || e instanceof OpenFlowTimeoutError) {
        throw new Error(`OpenFlow bundle on ${this.target}: ${e.message} after COMMIT was sent; whether the bundle was applied is unknown, resynchronise the flows (dump and reconcile)`);
      }
      throw e;
    }
    if (decodeHeader(commitMsg).type === OFPT.ERROR) {
      // A failing FLOW_MOD is reported first with its own xid, then OFPBFC_MSG_FAILED for the commit.
      const commitErr = decodeError(commitMsg);
      if (addErrors.length > 0) throw this.rejection(ops, addErrors, opByXid, 'when the bundle was committed');
      throw new OpenFlowBundleError(`OpenFlow bundle of ${ops.length} ops on ${this.target} failed to commit with ${commitErr.name}; ovs-vswitchd rolled it back, nothing was applied`, undefined, commitErr);
    }
    checkControlReply(conn, commitMsg, OFPBCT.COMMIT_REPLY, bundleId, 'COMMIT');
    this.stats.bundles++;
  }

  private async discard(conn: OpenFlowConnection, bundleId: number, timeoutMs: number): Promise<void> {
    if (!conn.alive) return;
    const xid = conn.nextXid();
    try {
      const reply = conn.expect(xid, timeoutMs, 'BUNDLE_CONTROL DISCARD');
      conn.send(encodeBundleControl(xid, bundleId, OFPBCT.DISCARD_REQUEST, BUNDLE_FLAGS));
      await reply; // an ERROR here (bundle already gone) is fine: either way it will never commit
    } catch {
      // Connection lost or timed out: the connection is closed, which discards the bundle too.
    }
  }

  private rejection(ops: FlowOp[], errors: DecodedError[], opByXid: Map<number, number>, when: string): OpenFlowBundleError {
    const named = errors.find((e) => opByXid.has(e.xid)) ?? errors[0]!;
    const i = opByXid.get(named.xid);
    const what = i === undefined ? `a message with xid ${named.xid}` : `op ${i + 1} of ${ops.length} (${opText(ops[i]!)})`;
    const hint = named.hint === undefined ? '' : ` (${named.hint})`;
    const others = errors.length > 1 ? `; ${errors.length - 1} more op(s) failed too` : '';
    return new OpenFlowBundleError(
      `OpenFlow bundle on ${this.target} rejected, nothing was applied: ovs-vswitchd refused ${what} ${when} with ${named.name}${hint}${others}. Fix or remove that flow and apply the bundle again.`,
      i,
      named,
    );
  }
}

/** Checks a BUNDLE_CONTROL reply; anything else leaves the connection in an unknown state, so it is closed. */
function checkControlReply(conn: OpenFlowConnection, msg: Buffer, type: number, bundleId: number, what: string): void {
  const h = decodeHeader(msg);
  const bc = h.type === OFPT.BUNDLE_CONTROL && msg.length >= 16 ? decodeBundleControl(msg) : null;
  if (bc === null || bc.type !== type || bc.bundleId !== bundleId) {
    conn.close();
    throw new Error(`unexpected answer to BUNDLE_CONTROL ${what} from ${conn.path} (message type ${h.type}${bc ? `, control type ${bc.type}, bundle ${bc.bundleId}` : ''}); connection closed`);
  }
}

/** The op as the ovs-ofctl bundle line (without newline), for error messages. */
function opText(op: FlowOp): string {
  return renderBundle([op]).trimEnd();
}
